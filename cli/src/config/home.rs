//! Finding and reading config.json the seed's way: a home directory
//! (`~/tcp-over-websocket.home` by default) holding `config.json`, which is
//! written with the defaults when it is missing.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{parse, ConfigError, FileConfig, MAX_CONFIG_BYTES};

/// The home directory's name under `$HOME`, as in the seed.
pub const HOME_DIR_NAME: &str = "tcp-over-websocket.home";

/// The config file's name inside a home directory.
pub const CONFIG_FILE_NAME: &str = "config.json";

/// A config read from disk, with where it came from.
#[derive(Debug)]
pub struct Loaded {
    pub config: FileConfig,
    /// Unknown keys and other non-fatal findings, each naming its key path.
    pub warnings: Vec<String>,
    /// The config file that was read.
    pub path: PathBuf,
    /// The home directory: the config file's directory; logs go here.
    pub home: PathBuf,
    /// Whether the config file was just written with the defaults.
    pub created: bool,
}

/// Loads the config the seed's way. No argument: `$HOME/tcp-over-websocket.home/config.json`;
/// a directory: `DIR/config.json`; a file: that file. A missing home directory
/// or `config.json` in it is created, with the defaults; a missing file path
/// is an error.
pub fn load(path_arg: Option<&Path>) -> Result<Loaded, ConfigError> {
    let (home, path) = match path_arg {
        None => {
            let home = user_home()?.join(HOME_DIR_NAME);
            create_dir(&home)?;
            (home.clone(), home.join(CONFIG_FILE_NAME))
        }
        Some(arg) => locate(arg)?,
    };
    let created = write_default_if_missing(&path)?;
    let mut loaded = read(&path, home)?;
    loaded.created = created;
    Ok(loaded)
}

/// Like [`load`] with an argument, but never writes anything: a directory
/// without `config.json` is an error. For `tcpws check`.
pub fn load_existing(path_arg: &Path) -> Result<Loaded, ConfigError> {
    let (home, path) = locate(path_arg)?;
    read(&path, home)
}

/// The default config.json: every seed key with its default, plus the new
/// optional keys, as pretty JSON.
pub fn default_config_text() -> String {
    let value = json!({
        "weAreServer": false,
        "clientId": 1,
        "standbySocketCloseDurationSecs": 30,
        "dataExchange": {
            "serverUrl": "http://localhost:8080",
            "enableMutualTLS": false,
            "tlsBundleFilePath": null,
            "mutualTLSTrustedCACertificateBundleFilePath": null,
            "mutualTLSTrustedPeerCertificateBundleFilePath": null,
            "perConnectionBufferBytes": 4 * 1024 * 1024,
            "resumeGraceSecs": 30,
            "failoverAfterSecs": 2,
            "keepaliveIntervalSecs": 5,
            "keepaliveTimeoutSecs": 20,
            "connectTimeoutSecs": 10,
            "tcpKeepaliveSecs": 60
        },
        "logging": {
            "level": "DEBUG",
            "logToStdout": true,
            "daysToKeep": 14,
            "syslog": { "logToSysloyHost": null }
        },
        "tcpTunnelListens": [],
        "tcpTunnelConnects": []
    });
    format!("{value:#}\n")
}

/// `(home, config file)` for an existing directory or file argument.
fn locate(arg: &Path) -> Result<(PathBuf, PathBuf), ConfigError> {
    let meta = fs::metadata(arg).map_err(|source| ConfigError::Io {
        path: arg.to_path_buf(),
        action: "open config path",
        source,
    })?;
    if meta.is_dir() {
        Ok((arg.to_path_buf(), arg.join(CONFIG_FILE_NAME)))
    } else {
        let home = match arg.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok((home, arg.to_path_buf()))
    }
}

fn user_home() -> Result<PathBuf, ConfigError> {
    ["HOME", "USERPROFILE"]
        .iter()
        .filter_map(std::env::var_os)
        .find(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| ConfigError::Io {
            path: PathBuf::from("$HOME"),
            action: "find the home directory",
            source: io::Error::new(io::ErrorKind::NotFound, "HOME is not set"),
        })
}

/// Creates `dir` (owner-only on Unix, as the seed does) if it is missing.
fn create_dir(dir: &Path) -> Result<(), ConfigError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| ConfigError::Io {
        path: dir.to_path_buf(),
        action: "create directory",
        source,
    })
}

/// Writes the default config to `path` unless something is there already.
/// Returns whether it wrote.
fn write_default_if_missing(path: &Path) -> Result<bool, ConfigError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let io_err = |source| ConfigError::Io {
        path: path.to_path_buf(),
        action: "write default config file",
        source,
    };
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(default_config_text().as_bytes())
                .map_err(io_err)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(e)),
    }
}

/// Reads and parses `path`, reading at most [`MAX_CONFIG_BYTES`] + 1 bytes.
fn read(path: &Path, home: PathBuf) -> Result<Loaded, ConfigError> {
    let io_err = |source| ConfigError::Io {
        path: path.to_path_buf(),
        action: "read config file",
        source,
    };
    let file = fs::File::open(path).map_err(io_err)?;
    let too_large = |size| ConfigError::TooLarge {
        file: Some(path.to_path_buf()),
        size,
        limit: MAX_CONFIG_BYTES,
    };
    let len = file.metadata().map_err(io_err)?.len();
    if len > MAX_CONFIG_BYTES {
        return Err(too_large(len));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        ConfigError::Json {
            file: Some(path.to_path_buf()),
            line,
            column,
            message: "the file is not UTF-8 text".to_string(),
        }
    })?;
    let (config, warnings) = parse(&text).map_err(|e| e.in_file(path))?;
    Ok(Loaded {
        config,
        warnings,
        path: path.to_path_buf(),
        home,
        created: false,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use tcpws_protocol::ClientId;

    use super::*;
    use crate::config::testing::{ok, temp_dir, SEED_CLIENT_2, SEED_SERVER};

    #[test]
    fn oversize_config_is_refused_before_reading() {
        let big = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_CONFIG_BYTES as usize));
        assert!(matches!(parse(&big), Err(ConfigError::TooLarge { .. })));
        let dir = temp_dir("big");
        let path = dir.join("config.json");
        fs::write(&path, &big).unwrap();
        let e = load(Some(&path)).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("config.json"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_config_round_trips_without_warnings() {
        let (c, warnings) = ok(&default_config_text());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c, ok("{}").0);
        let value: Value = serde_json::from_str(&default_config_text()).unwrap();
        for key in crate::config::ROOT_KEYS {
            assert!(value.get(key).is_some(), "{key}");
        }
        assert!(value["logging"]["syslog"].get("logToSysloyHost").is_some());
    }

    #[test]
    fn load_resolves_the_seed_home_convention() {
        let dir = temp_dir("home");
        // A directory without config.json gets the defaults written into it...
        let loaded = load(Some(&dir)).unwrap();
        assert!(loaded.created && loaded.warnings.is_empty());
        assert_eq!(loaded.path, dir.join("config.json"));
        assert_eq!(loaded.home, dir);
        assert_eq!(
            fs::read_to_string(dir.join("config.json")).unwrap(),
            default_config_text()
        );
        // ...and read back, not overwritten, the next time.
        fs::write(dir.join("config.json"), SEED_SERVER).unwrap();
        let loaded = load(Some(&dir)).unwrap();
        assert!(!loaded.created && loaded.config.we_are_server);
        // A file argument is read as it is; its directory is the home.
        let file = dir.join("other.json");
        fs::write(&file, SEED_CLIENT_2).unwrap();
        let loaded = load(Some(&file)).unwrap();
        assert_eq!(
            (loaded.path.clone(), loaded.home.clone()),
            (file.clone(), dir.clone())
        );
        assert_eq!(loaded.config.client_id, ClientId::Two);
        // Errors name the file.
        fs::write(&file, r#"{"clientId": 7}"#).unwrap();
        let e = load(Some(&file)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}: clientId: expected 1 or 2, got 7", file.display())
        );
        let missing = dir.join("nope");
        let e = load(Some(&missing)).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        // load_existing never writes.
        let empty = dir.join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(load_existing(&empty).is_err());
        assert!(!empty.join("config.json").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
