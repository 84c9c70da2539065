//! The shared secret file (`dataExchange.sharedSecretFilePath`): read once
//! at start, bounded, never logged.

use std::fs;
use std::io::Read;
use std::path::Path;

use tcpws_protocol::SharedSecret;

use super::ConfigError;

/// The config key of the secret file.
pub const SECRET_KEY: &str = "dataExchange.sharedSecretFilePath";
/// The most bytes a secret file may hold.
pub const MAX_SECRET_BYTES: usize = 4096;
/// Secrets shorter than this get a warning.
const SHORT_SECRET: usize = 16;

/// The secret in `path`: the file's bytes without trailing whitespace (so
/// a final newline from `echo` or an editor does not count). A missing,
/// unreadable, oversized or empty file is an error naming the key and file.
pub fn read(path: &Path) -> Result<SharedSecret, ConfigError> {
    read_bytes(path).map(|(secret, _)| secret)
}

/// What is unwise about the secret file at `path`: a short secret, or a
/// mode that lets others read it. Empty when all is well or unreadable.
pub fn warnings(path: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Ok((_, len)) = read_bytes(path) {
        if len < SHORT_SECRET {
            warnings.push(format!(
                "{SECRET_KEY}: the secret in {:?} is only {len} bytes; use at least 32 random bytes",
                path.display()
            ));
        }
    }
    warnings.extend(permission_warning(path));
    warnings
}

/// The secret and its length in bytes.
fn read_bytes(path: &Path) -> Result<(SharedSecret, usize), ConfigError> {
    let shown = path.display();
    let file_error = |why: String| ConfigError::key(SECRET_KEY, format!("{shown:?}: {why}"));
    let file = fs::File::open(path).map_err(|e| file_error(format!("cannot open it: {e}")))?;
    // Room for all of it up front: no reallocation leaves a copy behind.
    let mut bytes = Vec::with_capacity(MAX_SECRET_BYTES + 1);
    file.take(MAX_SECRET_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| file_error(format!("cannot read it: {e}")))?;
    if bytes.len() > MAX_SECRET_BYTES {
        return Err(file_error(format!(
            "it holds more than {MAX_SECRET_BYTES} bytes; a secret is 32 to 64 random bytes"
        )));
    }
    while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
        bytes.pop();
    }
    let Some(secret) = SharedSecret::new(&bytes) else {
        return Err(file_error(
            "it is empty; put a random secret in it, e.g. `head -c 32 /dev/urandom | base64`"
                .into(),
        ));
    };
    let len = bytes.len();
    bytes.fill(0);
    Ok((secret, len))
}

/// A warning when others than the file's owner may read it.
#[cfg(unix)]
fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{SECRET_KEY}: {:?} is readable or writable by group or others (mode {:o}); \
             `chmod 600` it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{key_of, temp_dir};

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_secret_file_is_read_trimmed_and_checked() {
        let dir = temp_dir("secret");
        let file = dir.join("secret");
        fs::write(&file, "0123456789abcdef0123456789abcdef\n").unwrap();
        #[cfg(unix)]
        chmod(&file, 0o600);
        let secret = read(&file).unwrap();
        assert!(warnings(&file).is_empty(), "{:?}", warnings(&file));
        assert_eq!(format!("{secret:?}"), "SharedSecret(<redacted>)");

        #[cfg(unix)]
        {
            chmod(&file, 0o644);
            let w = warnings(&file);
            assert!(w[0].contains("mode 644"), "{w:?}");
            chmod(&file, 0o600);
        }

        fs::write(&file, "short").unwrap();
        let w = warnings(&file);
        assert!(w[0].contains("only 5 bytes"), "{w:?}");

        for (content, why) in [
            ("\n \n", "it is empty"),
            (&"x".repeat(MAX_SECRET_BYTES + 1)[..], "more than 4096"),
        ] {
            fs::write(&file, content).unwrap();
            let e = read(&file).unwrap_err();
            assert_eq!(key_of(&e), Some(SECRET_KEY));
            assert!(e.to_string().contains(why), "{e}");
        }
        let e = read(&dir.join("missing")).unwrap_err();
        assert!(e.to_string().contains("cannot open it"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }
}
