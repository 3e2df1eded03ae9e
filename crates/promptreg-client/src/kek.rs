//! The key-encryption key rotation (admin).

use promptreg_api::KekRotationView;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/keys/kek/rotate`: a new KEK rewraps every data key, then the old one retires.
    pub async fn rotate_kek(&self) -> Result<KekRotationView, ClientError> {
        self.call(self.request(Method::POST, "/v1/keys/kek/rotate"))
            .await
    }
}
