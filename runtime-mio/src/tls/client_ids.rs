//! Certificate-bound client ids (`mutualTLSClientCertificates`): under
//! mutual TLS, which client id the certificate a link presented may claim.
//! The protocol refuses a Hello for any other id.

use tcpws_protocol::{Certified, ClientId};

use crate::error::RuntimeError;
use crate::settings::NodeSettings;
use crate::tls::files::load_certs;

/// The config key of the id → certificate mapping.
pub const CLIENT_CERTIFICATES_KEY: &str = "dataExchange.mutualTLSClientCertificates";

/// Each client's certificate (the first one in its file, DER).
#[derive(Debug, Clone)]
pub(crate) struct ClientIds {
    one: Vec<u8>,
    two: Vec<u8>,
}

impl ClientIds {
    /// The mapping of a server's settings, read and checked; `None` when
    /// the settings have none (either pinned certificate claims either id).
    pub(crate) fn load(settings: &NodeSettings) -> Result<Option<ClientIds>, RuntimeError> {
        let Some([one, two]) = settings
            .tls
            .as_ref()
            .and_then(|t| t.client_certificates.as_ref())
        else {
            return Ok(None);
        };
        let mutual = settings.tls.as_ref().is_some_and(|t| t.mutual);
        if !settings.server.tls || !mutual {
            return Err(RuntimeError::Settings(format!(
                "{CLIENT_CERTIFICATES_KEY} binds client ids to TLS client certificates: \
                 it needs a wss:// (or https://) serverUrl and enableMutualTLS"
            )));
        }
        let first = |path| -> Result<Vec<u8>, RuntimeError> {
            Ok(load_certs(CLIENT_CERTIFICATES_KEY, path)?[0].to_vec())
        };
        let ids = ClientIds {
            one: first(one)?,
            two: first(two)?,
        };
        if ids.one == ids.two {
            return Err(RuntimeError::Settings(format!(
                "{CLIENT_CERTIFICATES_KEY}: clients 1 and 2 name the same certificate"
            )));
        }
        Ok(Some(ids))
    }

    /// What a link that presented `presented` may claim.
    pub(crate) fn certified(ids: Option<&ClientIds>, presented: Option<&[u8]>) -> Certified {
        let Some(ids) = ids else {
            return Certified::Unbound;
        };
        match presented {
            Some(c) if c == ids.one.as_slice() => Certified::Client(ClientId::One),
            Some(c) if c == ids.two.as_slice() => Certified::Client(ClientId::Two),
            _ => Certified::Neither,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_claims_its_own_id_only() {
        let ids = ClientIds {
            one: vec![1, 1],
            two: vec![2, 2],
        };
        let c = |p: Option<&[u8]>| ClientIds::certified(Some(&ids), p);
        assert_eq!(c(Some(&[1, 1])), Certified::Client(ClientId::One));
        assert_eq!(c(Some(&[2, 2])), Certified::Client(ClientId::Two));
        assert_eq!(c(Some(&[3])), Certified::Neither);
        assert_eq!(c(None), Certified::Neither);
        assert_eq!(
            ClientIds::certified(None, Some(&[1, 1])),
            Certified::Unbound
        );
    }
}
