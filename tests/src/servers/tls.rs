//! TLS: a test certificate authority made with `openssl`, and MariaDB and
//! PostgreSQL servers that use it.
//!
//! Keys are ECDSA P-256; certificates are X.509 v3 with the extensions
//! strict verifiers (rustls/webpki) insist on: the CA is `CA:TRUE` with
//! `keyCertSign`; leaf certificates are `CA:FALSE`, with an extended key
//! usage, and name their host in subjectAltName (the common name is not
//! read by modern clients).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::mariadb::mariadb_template;
use super::postgres::postgres_template;
use super::{
    chown, claim_port, copy_tree, program, run, write_file, LabDir, MariaDb, Postgres, User,
};

/// The user the client certificate names (its CN): on TLS servers, a
/// MariaDB account that `REQUIRE X509` and a PostgreSQL role that logs in
/// by `cert` authentication only; both may do anything.
pub const CLIENT_USER: &str = "np_client";

/// The host name in [`TestCa::wrong_host_cert`].
pub const WRONG_HOST: &str = "wrong-host.invalid";

/// Which certificate a TLS server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCert {
    /// Valid for `localhost` and `127.0.0.1`: verifies, host name included.
    Localhost,
    /// Signed by the same CA but for [`WRONG_HOST`] only: verifies against
    /// the CA (`VERIFY_CA`, `verify-ca`), fails host name verification
    /// (`VERIFY_IDENTITY`, `verify-full`) on 127.0.0.1.
    WrongHost,
}

/// A certificate authority for one test, in its own directory (removed
/// when dropped), with every file a TLS test needs. All paths are
/// absolute; keys are PEM (PKCS#8), mode 0600.
pub struct TestCa {
    pub dir: PathBuf,
    /// The CA: trust this one.
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    /// Server certificate for DNS:localhost and IP:127.0.0.1.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Client certificate, CN = [`CLIENT_USER`].
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// Server certificate for [`WRONG_HOST`] only, signed by the CA.
    pub wrong_host_cert: PathBuf,
    pub wrong_host_key: PathBuf,
    /// Another, unrelated CA: verifying a server against it must fail.
    pub other_ca_cert: PathBuf,
    /// A client certificate (CN = [`CLIENT_USER`]) from the other CA: the
    /// servers must refuse it.
    pub other_client_cert: PathBuf,
    pub other_client_key: PathBuf,
    _lab: LabDir,
}

/// The extensions of each kind of certificate.
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[wrong_host]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong-host.invalid
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

impl TestCa {
    /// Makes the CA and every certificate (a fraction of a second).
    pub fn new() -> TestCa {
        let started = Instant::now();
        let lab = LabDir::new("ca");
        let dir = lab.path().to_path_buf();
        let cnf = dir.join("openssl.cnf");
        write_file(&cnf, OPENSSL_CNF, None, false);
        let openssl = Openssl {
            program: program("openssl", "openssl"),
            dir: dir.clone(),
            cnf,
        };
        openssl.ca("ca", "nova-purge test CA");
        openssl.ca("other-ca", "unrelated test CA");
        openssl.leaf("server", "localhost", "server", "ca");
        openssl.leaf("client", CLIENT_USER, "client", "ca");
        openssl.leaf("wrong-host", WRONG_HOST, "wrong_host", "ca");
        openssl.leaf("other-client", CLIENT_USER, "client", "other-ca");
        let file = |name: &str| dir.join(name);
        let ca = TestCa {
            ca_cert: file("ca.crt"),
            ca_key: file("ca.key"),
            server_cert: file("server.crt"),
            server_key: file("server.key"),
            client_cert: file("client.crt"),
            client_key: file("client.key"),
            wrong_host_cert: file("wrong-host.crt"),
            wrong_host_key: file("wrong-host.key"),
            other_ca_cert: file("other-ca.crt"),
            other_client_cert: file("other-client.crt"),
            other_client_key: file("other-client.key"),
            dir,
            _lab: lab,
        };
        eprintln!(
            "np-lab: test CA made in {:.2}s",
            started.elapsed().as_secs_f64()
        );
        ca
    }

    /// The server certificate and key of a kind.
    pub fn server_pair(&self, cert: ServerCert) -> (&Path, &Path) {
        match cert {
            ServerCert::Localhost => (&self.server_cert, &self.server_key),
            ServerCert::WrongHost => (&self.wrong_host_cert, &self.wrong_host_key),
        }
    }

    /// Copies the CA certificate and a server pair into `dir/tls/`, owned
    /// by the server's user (PostgreSQL insists that its key be its own,
    /// mode 0600).
    fn install(&self, dir: &Path, cert: ServerCert, user: Option<User>) {
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls).expect("tls dir");
        let (cert, key) = self.server_pair(cert);
        let files = [
            (self.ca_cert.as_path(), "ca.crt", false),
            (cert, "server.crt", false),
            (key, "server.key", true),
        ];
        for (from, name, private) in files {
            let text = std::fs::read_to_string(from).expect("read certificate");
            write_file(&tls.join(name), &text, user, private);
        }
        chown(&tls, user);
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

struct Openssl {
    program: PathBuf,
    dir: PathBuf,
    cnf: PathBuf,
}

fn serial() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    format!("0x{:x}{:04x}", nanos, N.fetch_add(1, Ordering::SeqCst))
}

impl Openssl {
    fn run(&self, args: &[&str]) {
        run(
            Command::new(&self.program)
                .args(args)
                .current_dir(&self.dir)
                .env("OPENSSL_CONF", &self.cnf),
            &format!("openssl {}", args.join(" ")),
        );
    }

    fn key(&self, name: &str) {
        let key = format!("{name}.key");
        self.run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ]);
        let path = self.dir.join(&key);
        let text = std::fs::read_to_string(&path).expect("key");
        write_file(&path, &text, None, true);
    }

    fn ca(&self, name: &str, cn: &str) {
        self.key(name);
        let cnf = self.cnf.display().to_string();
        self.run(&[
            "req",
            "-config",
            &cnf,
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "3650",
            "-set_serial",
            &serial(),
            "-extensions",
            "ca",
            "-out",
            &format!("{name}.crt"),
        ]);
    }

    fn leaf(&self, name: &str, cn: &str, extensions: &str, ca: &str) {
        self.key(name);
        let cnf = self.cnf.display().to_string();
        let csr = format!("{name}.csr");
        self.run(&[
            "req",
            "-config",
            &cnf,
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            &csr,
        ]);
        self.run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            &serial(),
            "-days",
            "3650",
            "-extfile",
            &cnf,
            "-extensions",
            extensions,
            "-out",
            &format!("{name}.crt"),
        ]);
    }
}

impl MariaDb {
    /// A new MariaDB server with TLS (`ssl_ca`, `ssl_cert`, `ssl_key` from
    /// `ca`), up and answering. With `require`, `require_secure_transport`
    /// refuses every TCP connection without TLS. root logs in with or
    /// without TLS (unless `require`); [`CLIENT_USER`] only with a client
    /// certificate the CA signed (`REQUIRE X509`).
    ///
    /// For "TLS required but the server has none", use [`MariaDb::start`]:
    /// its `have_ssl` is `DISABLED`.
    pub fn start_tls(ca: &TestCa, cert: ServerCert, require: bool) -> MariaDb {
        let started = Instant::now();
        let lab = LabDir::new("mariadb-tls");
        let name = "mariadb";
        let user = super::service_user("mysql", "mariadb-server");
        let tls = lab.path().join(name).join("tls");
        let mut config = vec![
            format!("ssl_ca={}", tls.join("ca.crt").display()),
            format!("ssl_cert={}", tls.join("server.crt").display()),
            format!("ssl_key={}", tls.join("server.key").display()),
        ];
        if require {
            config.push("require_secure_transport=ON".to_owned());
        }
        let mut server = MariaDb::create(&lab, name, claim_port(), &config, &mariadb_template());
        ca.install(server.dir(), cert, user);
        server.set_lab(lab);
        server.launch(&[]);
        server.wait_ready();
        assert_eq!(server.variable("have_ssl"), "YES", "TLS is not on");
        server.sql(&format!(
            "CREATE USER '{CLIENT_USER}'@'%' REQUIRE X509; \
             GRANT ALL PRIVILEGES ON *.* TO '{CLIENT_USER}'@'%' WITH GRANT OPTION"
        ));
        eprintln!(
            "np-lab: MariaDB with TLS ({cert:?}, required: {require}) on port {} up in {:.1}s",
            server.port(),
            started.elapsed().as_secs_f64()
        );
        server
    }
}

impl Postgres {
    /// A new PostgreSQL server with TLS (`ssl=on`, `ssl_cert_file`,
    /// `ssl_key_file`, and `ssl_ca_file` to verify client certificates),
    /// up and answering. pg_hba.conf: [`CLIENT_USER`] only over TLS with a
    /// client certificate the CA signed whose CN is its name (`cert`);
    /// everyone else over TLS (`hostssl ... trust`) and, unless `require`,
    /// without (`host ... trust`; with `require`, `hostnossl ... reject`).
    ///
    /// For "TLS required but the server has none", use [`Postgres::start`]:
    /// `ssl=off`.
    pub fn start_tls(ca: &TestCa, cert: ServerCert, require: bool) -> Postgres {
        let started = Instant::now();
        let lab = LabDir::new("postgres-tls");
        let plain = if require {
            "hostnossl all all 127.0.0.1/32 reject\n"
        } else {
            "host all all 127.0.0.1/32 trust\n"
        };
        let hba = format!(
            "local all all trust\n\
             local replication all trust\n\
             hostssl all {CLIENT_USER} 127.0.0.1/32 cert\n\
             hostnossl all {CLIENT_USER} 127.0.0.1/32 reject\n\
             hostssl all all 127.0.0.1/32 trust\n\
             {plain}"
        );
        let name = "postgres";
        let user = super::service_user("postgres", "postgresql");
        let tls = lab.path().join(name).join("tls");
        let settings = vec![
            "ssl=on".to_owned(),
            format!("ssl_ca_file={}", tls.join("ca.crt").display()),
            format!("ssl_cert_file={}", tls.join("server.crt").display()),
            format!("ssl_key_file={}", tls.join("server.key").display()),
        ];
        let mut server = Postgres::create(&lab, name, claim_port(), &settings, &hba);
        ca.install(server.dir(), cert, user);
        copy_tree(&postgres_template(), &server.data_dir());
        chown(&server.data_dir(), user);
        server.set_lab(lab);
        server.start_again();
        server.sql(&format!("CREATE ROLE {CLIENT_USER} LOGIN SUPERUSER"));
        eprintln!(
            "np-lab: PostgreSQL with TLS ({cert:?}, required: {require}) on port {} up in {:.1}s",
            server.port(),
            started.elapsed().as_secs_f64()
        );
        server
    }
}
