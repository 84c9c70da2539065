//! What a config leaves open to strangers, said at start and by
//! `tcpws check`: who may take a client's role, and how to close it.

use std::net::IpAddr;

use super::secret::{self, SECRET_KEY};
use super::FileConfig;

impl FileConfig {
    /// Warnings about authentication: a server reachable beyond loopback
    /// that lets anyone take a client's role, ids not bound to
    /// certificates under mutual TLS, and an unwise secret file.
    pub fn security_warnings(&self) -> Vec<String> {
        let dx = &self.data_exchange;
        let mut out = Vec::new();
        if let Some(path) = &dx.shared_secret_file {
            out.extend(secret::warnings(path));
        }
        let mutual = dx.server_url.tls() && dx.enable_mutual_tls;
        if !self.we_are_server {
            if dx.client_certificates.is_some() {
                out.push(
                    "dataExchange.mutualTLSClientCertificates is a server setting; \
                     this client ignores it"
                        .into(),
                );
            }
            return out;
        }
        let exposed = !dx
            .server_bind_address
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        if exposed && dx.shared_secret_file.is_none() && !mutual {
            out.push(format!(
                "the server accepts clients on {} (not a loopback address) without \
                 authentication: anyone who reaches it can take a client's role and its \
                 connections; set {SECRET_KEY} on all three nodes, or use mutual TLS \
                 (a wss:// serverUrl with enableMutualTLS)",
                dx.server_bind_address
            ));
        }
        if mutual && dx.client_certificates.is_none() {
            out.push(
                "under mutual TLS either accepted client certificate can claim either client \
                 id; set dataExchange.mutualTLSClientCertificates to bind each id to its \
                 certificate"
                    .into(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::ok;

    fn warnings(json: &str) -> Vec<String> {
        ok(json).0.security_warnings()
    }

    #[test]
    fn an_open_server_is_told_both_ways_to_close_it() {
        let w = warnings(r#"{"weAreServer": true}"#);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("0.0.0.0") && w[0].contains("sharedSecretFilePath"));
        assert!(w[0].contains("enableMutualTLS"), "{w:?}");
        let loopback =
            r#"{"weAreServer": true, "dataExchange": {"serverBindAddress": "127.0.0.1"}}"#;
        assert!(warnings(loopback).is_empty());
        assert!(warnings(r#"{"weAreServer": false}"#).is_empty(), "clients");
    }

    #[test]
    fn mutual_tls_without_bound_ids_is_a_warning() {
        let w = warnings(
            r#"{"weAreServer": true, "dataExchange": {"serverUrl": "wss://h:9443", "enableMutualTLS": true}}"#,
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("mutualTLSClientCertificates"), "{w:?}");
        let bound = r#"{"weAreServer": true, "dataExchange": {"serverUrl": "wss://h:9443",
            "enableMutualTLS": true, "mutualTLSClientCertificates": {"1": "/a", "2": "/b"}}}"#;
        assert!(warnings(bound).is_empty());
    }
}
