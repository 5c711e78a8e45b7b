fn main() -> std::process::ExitCode {
    purge_cli::main()
}
