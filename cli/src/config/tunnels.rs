//! The `tcpTunnelListens[]` and `tcpTunnelConnects[]` lists: named
//! tunnel ends, each name at most once per list.

use std::collections::BTreeSet;

use super::json::Obj;
use super::{ConfigError, MAX_NAME};

/// One `tcpTunnelListens[]` entry: accept TCP here, carry it to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenTunnel {
    pub name: String,
    pub bind_address: String,
    pub port: u16,
}

/// One `tcpTunnelConnects[]` entry: streams arriving for `name` dial here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTunnel {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// Reads `tcpTunnelListens[]` of `root`, adding a warning per unknown key.
pub(super) fn read_listens(
    root: &Obj,
    warnings: &mut Vec<String>,
) -> Result<Vec<ListenTunnel>, ConfigError> {
    let keys = ["tunnelName", "listenBindAddress", "listenPort"];
    read_list(root, "tcpTunnelListens", &keys, warnings, |obj, name| {
        Ok(ListenTunnel {
            name,
            bind_address: obj.text("listenBindAddress", MAX_NAME, Some("127.0.0.1"))?,
            port: obj.port("listenPort", None)?,
        })
    })
}

/// Reads `tcpTunnelConnects[]` of `root`, adding a warning per unknown key.
pub(super) fn read_connects(
    root: &Obj,
    warnings: &mut Vec<String>,
) -> Result<Vec<ConnectTunnel>, ConfigError> {
    let keys = ["tunnelName", "connectToHost", "connectToPort"];
    read_list(root, "tcpTunnelConnects", &keys, warnings, |obj, name| {
        Ok(ConnectTunnel {
            name,
            host: obj.text("connectToHost", MAX_NAME, None)?,
            port: obj.port("connectToPort", None)?,
        })
    })
}

/// The entries of the list at `key`: objects of the `known` keys whose
/// `tunnelName` does not repeat in the list, each made by `entry` from the
/// object and its name.
fn read_list<T>(
    root: &Obj,
    key: &str,
    known: &[&str],
    warnings: &mut Vec<String>,
    entry: impl Fn(&Obj, String) -> Result<T, ConfigError>,
) -> Result<Vec<T>, ConfigError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (path, value) in root.array(key)? {
        let obj = Obj::at(path, value)?;
        obj.warn_unknown(known, warnings);
        let name = obj.text("tunnelName", MAX_NAME, None)?;
        if !names.insert(name.clone()) {
            return Err(ConfigError::key(
                obj.path_of("tunnelName"),
                format!(
                    "expected a name not used by another entry of this list, got {name:?} again"
                ),
            ));
        }
        out.push(entry(&obj, name)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{err, ok};

    #[test]
    fn tunnel_names_are_unique_per_list() {
        let dup = r#"{"tcpTunnelConnects": [
            {"tunnelName": "a", "connectToHost": "h", "connectToPort": 1},
            {"tunnelName": "a", "connectToHost": "h", "connectToPort": 2}]}"#;
        assert_eq!(
            err(dup),
            r#"tcpTunnelConnects[1].tunnelName: expected a name not used by another entry of this list, got "a" again"#
        );
        // The same name may be both a listen and a connect of one node.
        ok(
            r#"{"tcpTunnelConnects": [{"tunnelName": "a", "connectToHost": "h", "connectToPort": 1}],
               "tcpTunnelListens": [{"tunnelName": "a", "listenPort": 1}]}"#,
        );
    }
}
