//! The command-line flags the client examples share: where to connect, as whom, and where
//! to send (`--addr`, `--login`, `--passcode`, `--vhost`, `--version`, `--destination`).

use std::str::FromStr;

use stomp_proto::session::ClientConfig;
use stomp_proto::{Version, Versions};

/// The shared flags' values.
pub struct Target {
    pub addr: String,
    pub login: Option<(String, String)>,
    pub vhost: String,
    pub version: Option<Version>,
    pub destination: String,
}

/// Reads the next argument: the value of the flag just read.
pub type Value<'a> = dyn FnMut() -> Result<String, String> + 'a;

impl Target {
    /// Parses the process's arguments. `extra(flag, value)` takes the example's own flags
    /// (calling `value` for the flag's value) and returns `Ok(false)` for a flag it does not
    /// know.
    pub fn parse(
        destination: String,
        mut extra: impl FnMut(&str, &mut Value<'_>) -> Result<bool, String>,
    ) -> Result<Target, String> {
        let mut target = Target {
            addr: "127.0.0.1:61613".into(),
            login: None,
            vhost: "/".into(),
            version: None,
            destination,
        };
        let (mut login, mut passcode) = (None, None);
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--addr" => target.addr = value()?,
                "--login" => login = Some(value()?),
                "--passcode" => passcode = Some(value()?),
                "--vhost" => target.vhost = value()?,
                "--destination" => target.destination = value()?,
                "--version" => {
                    let v = value()?;
                    let version = Version::parse(v.as_bytes());
                    target.version = Some(version.ok_or(format!("unknown version {v}"))?);
                }
                other => {
                    if !extra(other, &mut value)? {
                        return Err(format!("unknown argument {other}"));
                    }
                }
            }
        }
        if let Some(login) = login {
            target.login = Some((login, passcode.unwrap_or_default()));
        }
        Ok(target)
    }

    /// A client configuration for the virtual host, with the login and version if given.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(&self.vhost);
        if let Some(version) = self.version {
            config = config.accept_versions(Versions::EMPTY.with(version));
        }
        if let Some((login, passcode)) = &self.login {
            config = config.login(login, passcode);
        }
        config
    }
}

/// Parses a flag's numeric value.
pub fn number<T: FromStr>(flag: &str, value: String) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| format!("{flag}: {e}"))
}
