//! The STRING_REVERSE service: a string in, the string reversed out (a test
//! method).

use super::client::{Client, Outgoing, ServiceKind};
use super::{CallError, Handler, HandlerError, ServeError};
use crate::codec::string_reverse::{self, StringView};
use crate::wire::{align8, BatchBuilder, BatchView, Method};

/// Strings the schema assumes when it sizes the first request proposal.
const ASSUMED_STRING_LEN: u32 = 1024;

/// Marker type of the STRING_REVERSE service.
#[derive(Debug, Clone, Copy)]
pub struct StringReverse;

impl ServiceKind for StringReverse {
    const METHOD: Method = Method::StringReverse;
    fn request_bytes(batch_items: u32) -> u32 {
        batch_bytes(batch_items)
    }
    fn response_bytes(batch_items: u32) -> u32 {
        batch_bytes(batch_items)
    }
}

fn batch_bytes(n: u32) -> u32 {
    let one = string_reverse::encoded_len(ASSUMED_STRING_LEN as usize) as u32;
    if n <= 1 {
        one
    } else {
        n.saturating_mul(8 + align8(one as usize) as u32)
    }
}

/// A client context for a STRING_REVERSE endpoint.
pub type StringReverseClient = Client<StringReverse>;

impl Client<StringReverse> {
    /// Sends `s`; returns the server's answer, borrowed until the next call.
    pub fn call(&mut self, s: &str) -> Result<&str, CallError> {
        self.request.clear();
        string_reverse::encode_into(&mut self.request, s.as_bytes()).map_err(CallError::Encode)?;
        self.exchange(Outgoing { batch: None })?;
        Ok(StringView::decode(self.payload())?.to_str()?)
    }

    /// Sends all strings as one batch and returns the answers in order. One
    /// string goes as a plain request; none does no I/O.
    pub fn call_batch(&mut self, items: &[&str]) -> Result<Vec<String>, CallError> {
        match items {
            [] => return Ok(Vec::new()),
            [one] => return Ok(vec![Client::<StringReverse>::call(self, one)?.to_string()]),
            _ => {}
        }
        let n = u32::try_from(items.len())
            .map_err(|_| CallError::TooManyItems { count: items.len() })?;
        self.request.clear();
        let mut batch = BatchBuilder::new(&mut self.request, n).map_err(CallError::EncodeBatch)?;
        for s in items {
            let mut encoded = Ok(());
            batch
                .push_with(|buf| encoded = string_reverse::encode_into(buf, s.as_bytes()))
                .map_err(CallError::EncodeBatch)?;
            encoded.map_err(CallError::Encode)?;
        }
        batch.finish().map_err(CallError::EncodeBatch)?;
        self.exchange(Outgoing { batch: Some(n) })?;
        let view = BatchView::new(self.payload(), n)?;
        view.iter()
            .map(|item| Ok(StringView::decode(item)?.to_str()?.to_string()))
            .collect()
    }
}

/// A managed-server handler for STRING_REVERSE built from a function of the
/// string.
pub fn handler<F>(f: F) -> impl Handler
where
    F: Fn(&str) -> Result<String, HandlerError> + Send + Sync + 'static,
{
    StringReverseHandler(f)
}

struct StringReverseHandler<F>(F);

impl<F> Handler for StringReverseHandler<F>
where
    F: Fn(&str) -> Result<String, HandlerError> + Send + Sync + 'static,
{
    fn method(&self) -> Method {
        Method::StringReverse
    }
    fn serve(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), ServeError> {
        let s = StringView::decode(request)
            .and_then(|v| v.to_str())
            .map_err(|_| ServeError::BadRequest)?;
        let answer = (self.0)(s)?;
        string_reverse::encode_into(out, answer.as_bytes())
            .map_err(|e| ServeError::Handler(HandlerError::Encode(e)))
    }
}
