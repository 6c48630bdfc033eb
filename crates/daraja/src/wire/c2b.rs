//! C2B: URL registration, validation and confirmation bodies, and the simulate request.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

// ---- C2B ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseType {
    Completed,
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterUrlRequest {
    #[serde(rename = "ShortCode")]
    pub short_code: String,
    #[serde(rename = "ResponseType")]
    pub response_type: ResponseType,
    #[serde(rename = "ConfirmationURL")]
    pub confirmation_url: String,
    #[serde(rename = "ValidationURL")]
    pub validation_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterUrlResponse {
    /// Misspelled on the wire ("Coversation"); the correct spelling is accepted too.
    #[serde(
        rename = "OriginatorCoversationID",
        alias = "OriginatorConversationID",
        default
    )]
    pub originator_conversation_id: Option<String>,
    #[serde(rename = "ConversationID", default)]
    pub conversation_id: Option<String>,
    /// `"0"`, `"00000000"`, or missing on some v2 accounts.
    #[serde(rename = "ResponseCode", default)]
    pub response_code: Option<Code>,
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: Option<String>,
}

/// Sandbox-only C2B simulate. Note Daraja's spelling `Msisdn`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct C2bSimulateRequest {
    #[serde(rename = "ShortCode")]
    pub short_code: String,
    #[serde(rename = "CommandID")]
    pub command_id: TransactionType,
    #[serde(rename = "Amount")]
    pub amount: u64,
    #[serde(rename = "Msisdn")]
    pub msisdn: String,
    #[serde(rename = "BillRefNumber", default)]
    pub bill_ref_number: String,
}

/// The validation and confirmation payload. All values are strings on the wire; numbers are
/// accepted too. `msisdn` may be masked (`2547 ***** 126`) or a SHA-256 hex digest: opaque.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct C2bPayload {
    #[serde(
        rename = "TransactionType",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub transaction_type: Option<String>,
    #[serde(rename = "TransID", default, deserialize_with = "lenient_opt_string")]
    pub trans_id: Option<String>,
    #[serde(rename = "TransTime", default, deserialize_with = "lenient_opt_string")]
    pub trans_time: Option<String>,
    #[serde(
        rename = "TransAmount",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub trans_amount: Option<String>,
    #[serde(
        rename = "BusinessShortCode",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub business_short_code: Option<String>,
    #[serde(
        rename = "BillRefNumber",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub bill_ref_number: Option<String>,
    #[serde(
        rename = "InvoiceNumber",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub invoice_number: Option<String>,
    #[serde(
        rename = "OrgAccountBalance",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub org_account_balance: Option<String>,
    #[serde(
        rename = "ThirdPartyTransID",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub third_party_trans_id: Option<String>,
    #[serde(rename = "MSISDN", default, deserialize_with = "lenient_opt_string")]
    pub msisdn: Option<String>,
    #[serde(rename = "FirstName", default, deserialize_with = "lenient_opt_string")]
    pub first_name: Option<String>,
    #[serde(
        rename = "MiddleName",
        default,
        deserialize_with = "lenient_opt_string"
    )]
    pub middle_name: Option<String>,
    #[serde(rename = "LastName", default, deserialize_with = "lenient_opt_string")]
    pub last_name: Option<String>,
}

impl C2bPayload {
    /// Whole shillings from `"10"`, `"5.00"`.
    pub fn amount(&self) -> Option<u64> {
        self.trans_amount
            .as_ref()
            .and_then(|s| value_whole(&Value::String(s.clone())))
    }
}

/// What a validation endpoint answers: `{"ResultCode":"0","ResultDesc":"Accepted"}` or a
/// `C2B000xx` rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct C2bValidationResponse {
    #[serde(rename = "ResultCode")]
    pub result_code: Code,
    #[serde(rename = "ResultDesc")]
    pub result_desc: String,
    #[serde(
        rename = "ThirdPartyTransID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub third_party_trans_id: Option<String>,
}
