//! `POST /v1/outcomes`: what agents report after running a prompt.

use promptreg_api::{OutcomeBatch, OutcomeReport};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/outcomes` with a batch of events (at most 10,000): every event is accepted
    /// or refused on its own, in the answer's `results`.
    pub async fn report_outcomes(
        &self,
        batch: &OutcomeBatch,
    ) -> Result<OutcomeReport, ClientError> {
        self.call(self.request(Method::POST, "/v1/outcomes").json(batch))
            .await
    }
}
