//! The INCREMENT service: one u64 in, the value plus one out (a test and
//! benchmark method).

use super::client::{Client, Outgoing, ServiceKind};
use super::{CallError, Handler, HandlerError, ServeError};
use crate::codec::increment;
use crate::wire::{BatchBuilder, BatchView, Method};

/// Marker type of the INCREMENT service.
#[derive(Debug, Clone, Copy)]
pub struct Increment;

impl ServiceKind for Increment {
    const METHOD: Method = Method::Increment;
    fn request_bytes(batch_items: u32) -> u32 {
        batch_bytes(batch_items)
    }
    fn response_bytes(batch_items: u32) -> u32 {
        batch_bytes(batch_items)
    }
}

/// Payload of `n` INCREMENT items: 8 bytes alone, 16 per item in a batch
/// (directory entry + item).
fn batch_bytes(n: u32) -> u32 {
    if n <= 1 {
        increment::PAYLOAD_LEN as u32
    } else {
        n.saturating_mul(16)
    }
}

/// A client context for an INCREMENT endpoint.
pub type IncrementClient = Client<Increment>;

impl Client<Increment> {
    /// Sends `value`, returns what the server answered (normally
    /// `value + 1`).
    pub fn call(&mut self, value: u64) -> Result<u64, CallError> {
        self.request.clear();
        increment::encode_into(&mut self.request, value);
        self.exchange(Outgoing { batch: None })?;
        Ok(increment::decode(self.payload())?)
    }

    /// Sends all `values` as one batch message and returns the answers in
    /// order. One value goes as a plain request; none does no I/O.
    pub fn call_batch(&mut self, values: &[u64]) -> Result<Vec<u64>, CallError> {
        let mut out = Vec::with_capacity(values.len());
        self.call_batch_into(values, &mut out)?;
        Ok(out)
    }

    /// Like [`Client::<Increment>::call_batch`], appending the answers to a
    /// caller-owned vector (no allocation once it has grown).
    pub fn call_batch_into(&mut self, values: &[u64], out: &mut Vec<u64>) -> Result<(), CallError> {
        match values {
            [] => return Ok(()),
            [one] => {
                let answer = Client::<Increment>::call(self, *one)?;
                out.push(answer);
                return Ok(());
            }
            _ => {}
        }
        let n = u32::try_from(values.len()).map_err(|_| CallError::TooManyItems {
            count: values.len(),
        })?;
        self.request.clear();
        let mut batch = BatchBuilder::new(&mut self.request, n).map_err(CallError::EncodeBatch)?;
        for v in values {
            batch
                .push(&increment::encode(*v))
                .map_err(CallError::EncodeBatch)?;
        }
        batch.finish().map_err(CallError::EncodeBatch)?;
        self.exchange(Outgoing { batch: Some(n) })?;
        let view = BatchView::new(self.payload(), n)?;
        for item in view.iter() {
            out.push(increment::decode(item)?);
        }
        Ok(())
    }
}

/// A managed-server handler for INCREMENT built from a function of the
/// value.
pub fn handler<F>(f: F) -> impl Handler
where
    F: Fn(u64) -> Result<u64, HandlerError> + Send + Sync + 'static,
{
    IncrementHandler(f)
}

struct IncrementHandler<F>(F);

impl<F> Handler for IncrementHandler<F>
where
    F: Fn(u64) -> Result<u64, HandlerError> + Send + Sync + 'static,
{
    fn method(&self) -> Method {
        Method::Increment
    }
    fn serve(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), ServeError> {
        let value = increment::decode(request).map_err(|_| ServeError::BadRequest)?;
        increment::encode_into(out, (self.0)(value)?);
        Ok(())
    }
}
