//! Custom scalars of the contract.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use raktar_core::services::admin::{format_date, parse_date};
use raktar_core::services::clock;

/// An instant in UTC, RFC 3339 with whole seconds: `2026-03-01T12:30:00Z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTime(pub String);

/// An instant in UTC, RFC 3339 with whole seconds: `2026-03-01T12:30:00Z`.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => match clock::parse(s) {
                Some(t) => Ok(DateTime(clock::format(t))),
                None => Err(InputValueError::custom("expected an RFC 3339 date-time such as 2026-03-01T12:30:00Z")),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// A calendar day in UTC: `2026-03-01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub time::Date);

/// A calendar day in UTC: `2026-03-01`.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => {
                parse_date(s).map(Date).map_err(|_| InputValueError::custom("expected a date such as 2026-03-01"))
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format_date(self.0))
    }
}
