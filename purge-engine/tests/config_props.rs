//! Property tests for `purge_engine::config`: the INI reader, the SQLAlchemy URL
//! converter and the cell template filler never panic, whatever they are
//! fed, and a password in their input never shows up in an error message
//! or a redacted URL.

use std::fs;
use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use purge_engine::config::{
    fill_template, load_with_env, sqlalchemy_to_database_url, ConfigSource, NovaConfig,
};
use purge_engine::database::DatabaseUrl;
use purge_engine::Error as Failure;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;

/// Every generated password starts with this, so that any fragment of one
/// in a message is easy to spot.
const MARK: &str = "SECRET";

/// A scratch directory, removed on drop.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Scratch {
        Scratch(tempfile::tempdir().unwrap())
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.path().join(name);
        fs::write(&path, text).unwrap();
        path
    }
}

fn load_texts(texts: &[String]) -> (Scratch, Result<NovaConfig, Failure>) {
    let scratch = Scratch::new();
    let sources: Vec<ConfigSource> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| ConfigSource::File(scratch.file(&format!("{i}.conf"), text)))
        .collect();
    let config = load_with_env(&sources, []);
    (scratch, config)
}

fn message(failure: &Failure) -> String {
    failure.to_string()
}

/// `SECRET` plus up to 12 characters, URL-special ones included.
fn password() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'()*+,/:;=?@\\[\\]^_{|}~ .-]{0,12}".prop_map(|tail| format!("{MARK}{tail}"))
}

/// A password as it might be written in a URL: raw, or percent-encoded.
fn written(password: &str, encode: bool) -> String {
    if encode {
        utf8_percent_encode(password, NON_ALPHANUMERIC).to_string()
    } else {
        password.to_owned()
    }
}

fn scheme() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "mysql+pymysql",
        "mysql+mysqldb",
        "mysql",
        "mariadb+pymysql",
        "postgresql+psycopg2",
        "postgresql",
        "postgres",
        "sqlite",
        "sqlite+pysqlcipher",
        "oracle+cx_oracle",
        "mssql",
        "weird",
        "mysql+",
        "",
    ])
}

fn host() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "ctl",
        "ctl:3306",
        "db.example.org:5432",
        "[fd00::1]:3306",
        "[::1]",
        "",
        ":99999",
        "ctl:port",
        "[nonsense]",
        "[fd00::1",
        "ct l",
        "ctl:0",
    ])
}

fn tail() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/nova",
        "/nova?charset=utf8",
        "/nova?charset=utf8mb4&plugin=dbcounter",
        "/nova?ssl_ca=/etc/ca.pem&ssl_check_hostname=false",
        "/nova?unix_socket=/run/mysqld.sock&read_default_file=/etc/my.cnf",
        "/nova?sslmode=verify-full&connect_timeout=3",
        "/nova?host=/var/run/postgresql",
        "/nova?host=a,b",
        "/nova?ssl_mode=bogus",
        "/nova?sslmode=bogus",
        "",
        "/",
        "?x=1",
        "/nova#frag",
        "/:memory:",
    ])
}

/// How the URL may be damaged on top of that.
fn damage() -> impl Strategy<Value = u8> {
    0u8..8
}

fn damaged(url: String, how: u8) -> String {
    match how {
        1 => url.replacen("://", ":/", 1),
        2 => url.replacen('@', "", 1),
        3 => url.replacen('@', "@@", 1),
        4 => format!("{url}\ntrailing"),
        5 => url.replacen(':', "", 1),
        6 => format!("  {url}  "),
        7 => url.replacen("//", "//[", 1),
        _ => url,
    }
}

/// The leak check: no message or shown URL may hold the mark, which starts
/// every password (and appears nowhere else in the input).
fn assert_hidden(text: &str, context: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !text.contains(MARK),
        "{} leaked a password: {}",
        context,
        text
    );
    Ok(())
}

/// Converts a URL and checks that nothing shown leaks the password: the
/// error, or else the redacted URL, the URL check's error and its redaction.
fn check_conversion(url: &str) -> Result<(), TestCaseError> {
    match sqlalchemy_to_database_url(url) {
        Err(error) => assert_hidden(&error, "a conversion error"),
        Ok(converted) => {
            assert_hidden(converted.redacted(), "a redacted URL")?;
            assert_hidden(&format!("{converted:?}"), "a converted URL's Debug")?;
            for dropped in converted.dropped() {
                assert_hidden(&dropped.to_string(), "a dropped option")?;
            }
            match converted.database_url() {
                Err(failure) => assert_hidden(&message(&failure), "a URL check error"),
                Ok(url) => assert_hidden(&url.redacted(), "DatabaseUrl::redacted"),
            }
        }
    }
}

proptest! {
    // No regression files: a failure prints its minimal input instead.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_converter_never_panics(text in any::<String>()) {
        let _ = sqlalchemy_to_database_url(&text);
    }

    #[test]
    fn the_converter_never_panics_on_url_like_text(
        text in "(mysql|postgresql|sqlite|x)(\\+[a-z]{0,6})?://[a-z0-9:@/?&=%#\\[\\]{}.,+ -]{0,40}"
    ) {
        let _ = sqlalchemy_to_database_url(&text);
    }

    #[test]
    fn the_template_filler_never_panics(template in any::<String>(), local in any::<String>()) {
        let _ = fill_template(&template, &local);
    }

    #[test]
    fn the_template_filler_never_panics_on_templates(
        template in "[a-z{}:/@?#]{0,10}(\\{[a-z0-9!:]{0,10}\\}[a-z{}:/@?#]{0,6}){0,4}",
        local in "[a-z+]{0,8}://[a-z0-9:@,\\[\\]%./?#]{0,30}"
    ) {
        let _ = fill_template(&template, &local);
    }

    #[test]
    fn the_ini_reader_never_panics(texts in prop::collection::vec(any::<String>(), 1..3)) {
        let (_scratch, config) = load_texts(&texts);
        if let Ok(config) = config {
            let _ = config.database_url();
            let _ = config.api_database_url();
            let _ = config.get("DEFAULT", "state_path");
        }
    }

    #[test]
    fn the_ini_reader_never_panics_on_ini_like_text(
        lines in prop::collection::vec(
            "(\\[[a-zA-Z_ ]{0,10}\\]?|[#;].{0,10}|[ \t]{0,2}[a-z_]{0,8}[ ]?[=:]?[ ]?[a-z$${}:/@.\"']{0,16}|)",
            0..12
        )
    ) {
        let (_scratch, config) = load_texts(&[lines.join("\n")]);
        if let Ok(config) = config {
            let _ = config.database_url();
            let _ = config.database_connection();
        }
    }

    #[test]
    fn passwords_never_leak_from_url_conversion(
        scheme in scheme(),
        password in password(),
        encode in any::<bool>(),
        host in host(),
        tail in tail(),
        how in damage(),
    ) {
        let url = damaged(
            format!("{scheme}://nova:{}@{host}{tail}", written(&password, encode)),
            how,
        );
        check_conversion(&url)?;
    }

    #[test]
    fn passwords_in_query_options_never_leak(
        scheme in scheme(),
        password in password(),
        // Options whose value is a secret (or unknown, so not kept); `user`,
        // `host` and the like are shown in redacted URLs by design.
        key in prop::sample::select(vec!["password", "passwd", "whatever", "plugin", "read_default_file"]),
    ) {
        let value = utf8_percent_encode(&password, NON_ALPHANUMERIC).to_string();
        check_conversion(&format!("{scheme}://ctl/nova?{key}={value}"))?;
    }

    #[test]
    fn passwords_never_leak_from_templates(
        password in password(),
        local_password in password(),
        template in prop::sample::select(vec![
            "mysql+pymysql://{username}:PW@{hostname}/nova_cell1",
            "mysql+pymysql://{username}:PW@{hostname}:{port}/{path}?{query}",
            "{scheme}://{username}:PW@{hostname}/{nope}",
            "{scheme}://{username}:PW{@{hostname}/x",
            "{scheme}://{username}:PW}@{hostname}/x",
            "{scheme}://{username}:{password}@{hostname}/x",
            "{scheme}://{username!r}:PW@{hostname}/x",
            "{scheme}://{username1}:PW@{hostname2}/x",
            "mysql://u:{PW}@h/x",
        ]),
        local_shape in prop::sample::select(vec![
            "mysql+pymysql://nova:LPW@ctl/nova?charset=utf8",
            "mysql+pymysql://nova:LPW@ctl:LPW/nova",
            "mysql+pymysql://nova:LPW@[ctl/nova",
            "mysql+pymysql://nova:LPW@[1.2.3.4]/nova",
            "mysql+pymysql://LPW@a,b:LPW@c/nova",
            "sqlite:////var/lib/nova/LPW.sqlite",
            "LPW",
        ]),
    ) {
        let template = template.replace("PW", &password);
        let local = local_shape.replace("LPW", &local_password);
        match fill_template(&template, &local) {
            Err(error) => assert_hidden(&error, "a template error")?,
            Ok(filled) => {
                if let Err(error) = sqlalchemy_to_database_url(&filled) {
                    assert_hidden(&error, "a conversion error after filling")?;
                }
            }
        }
    }

    #[test]
    fn passwords_never_leak_from_config_files(
        scheme in scheme(),
        password in password(),
        encode in any::<bool>(),
        host in host(),
        tail in tail(),
        how in damage(),
        layout in 0u8..6,
    ) {
        let url = damaged(
            format!("{scheme}://nova:{}@{host}{tail}", written(&password, encode)),
            how,
        );
        let text = match layout {
            0 => format!("[database]\nconnection = {url}\n[api_database]\nconnection = {url}\n"),
            1 => format!("connection = {url}\n"),
            2 => format!("[database]\nconnection {url}\n"),
            3 => format!("[database]\n  {url}\n"),
            4 => format!("[database]\nconnection =\n  {url}\n  {password}\n"),
            _ => format!("[database\nconnection = {url}\n"),
        };
        let (_scratch, config) = load_texts(&[text]);
        match config {
            Err(failure) => assert_hidden(&message(&failure), "a config load error")?,
            Ok(config) => {
                assert_hidden(&format!("{config:?}"), "NovaConfig's Debug")?;
                for result in [config.database_url(), config.api_database_url()] {
                    match result {
                        Err(failure) => assert_hidden(&message(&failure), "a config URL error")?,
                        Ok(converted) => {
                            assert_hidden(converted.redacted(), "a redacted config URL")?;
                            if let Err(failure) = converted.database_url() {
                                assert_hidden(&message(&failure), "a config URL check error")?;
                            }
                        }
                    }
                }
                match config.cell_database_url("cell1", &format!("{{scheme}}://{{username}}:{password}@{{hostname}}/c1")) {
                    Err(failure) => assert_hidden(&message(&failure), "a cell URL error")?,
                    Ok(converted) => assert_hidden(converted.redacted(), "a redacted cell URL")?,
                }
                if let Ok(Some(value)) = config.database_connection() {
                    assert_hidden(&format!("{value:?}"), "ConfigValue's Debug")?;
                }
            }
        }
    }

    #[test]
    fn percent_encoded_credentials_reach_sqlx_unchanged(
        user in "\\PC{1,12}",
        password in "\\PC{1,16}",
        database in "[a-zA-Z0-9_%$-]{1,12}",
        postgres in any::<bool>(),
    ) {
        let scheme = if postgres { "postgresql+psycopg2" } else { "mysql+pymysql" };
        let url = format!(
            "{scheme}://{}:{}@ctl:3306/{database}",
            utf8_percent_encode(&user, NON_ALPHANUMERIC),
            utf8_percent_encode(&password, NON_ALPHANUMERIC),
        );
        let converted = sqlalchemy_to_database_url(&url).map_err(TestCaseError::fail)?;
        let parsed = url::Url::parse(converted.as_str()).unwrap();
        let decode = |text: &str| percent_decode_str(text).decode_utf8().unwrap().into_owned();
        prop_assert_eq!(decode(parsed.password().unwrap()), password);
        if postgres {
            let options = PgConnectOptions::from_str(converted.as_str()).unwrap();
            prop_assert_eq!(options.get_username(), user.as_str());
            prop_assert_eq!(options.get_database(), Some(database.as_str()));
        } else {
            let options = MySqlConnectOptions::from_str(converted.as_str()).unwrap();
            prop_assert_eq!(options.get_username(), user.as_str());
            prop_assert_eq!(options.get_database(), Some(database.as_str()));
        }
        prop_assert!(DatabaseUrl::parse(converted.as_str()).is_ok());
    }

    #[test]
    fn raw_passwords_as_sqlalchemy_reads_them_reach_sqlx_unchanged(
        password in "[^@%\\p{Cc}]{1,16}",
    ) {
        // SQLAlchemy takes everything up to the first `@` after `user:` as
        // the password, and decodes %-escapes (none here).
        let converted = sqlalchemy_to_database_url(&format!("mysql+pymysql://nova:{password}@ctl/nova"))
            .map_err(TestCaseError::fail)?;
        let parsed = url::Url::parse(converted.as_str()).unwrap();
        let decoded = percent_decode_str(parsed.password().unwrap()).decode_utf8().unwrap().into_owned();
        prop_assert_eq!(decoded, password);
        let options = MySqlConnectOptions::from_str(converted.as_str()).unwrap();
        prop_assert_eq!(options.get_host(), "ctl");
        prop_assert_eq!(options.get_database(), Some("nova"));
    }
}
