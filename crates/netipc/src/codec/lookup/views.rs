//! The parts of the public API that are identical for both methods,
//! written once as macros and expanded in each method module, so that each
//! method keeps its own concrete, documented types.

/// Expands to `ResponseView`, its iterator `Items`, the `IntoIterator`
/// impls and `ItemView<'a>` with its method-independent accessors, for a
/// module that defines `validate_item(index, bytes)` and `ITEM_HEADER_LEN`
/// (and the item's own accessors in another `impl ItemView`).
macro_rules! response_view {
    ($section:literal) => {
        /// A validated response borrowing the payload.
        ///
        /// [`decode`](Self::decode) validates every item (all-or-nothing,
        /// §14.8), so the accessors cannot fail. Matching the item count and
        /// the echoed keys against the request is the caller's job (§18.5).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct ResponseView<'a> {
            frame: crate::codec::lookup::common::Frame<'a>,
        }

        impl<'a> ResponseView<'a> {
            #[doc = concat!(
                "Validates a response payload: header and directory (§14.4), then each item (",
                $section,
                ").\n\nGap bytes between items, bytes after the last item and the placement of ",
                "the strings inside an item are not checked, as in the reference decoders.\n\n",
                "# Errors\n\nThe first rule broken, as a [`LookupError`]",
                "(crate::codec::lookup::LookupError) naming the item and field."
            )]
            pub fn decode(payload: &'a [u8]) -> Result<Self, crate::codec::lookup::LookupError> {
                use crate::codec::lookup::common::{EntryLen, Frame, Side};
                let frame = Frame::decode_each(
                    payload,
                    Side::Response,
                    EntryLen::AtLeast(ITEM_HEADER_LEN as u32),
                    validate_item,
                )?;
                Ok(Self { frame })
            }

            /// A view over a payload that already passed
            /// [`decode`](Self::decode) (or that this crate's builders
            /// wrote from validated items), without validating it again.
            /// Accessors stay bounds-checked: bytes that did not pass give
            /// wrong answers, never a panic.
            #[inline]
            pub(crate) fn assume_valid(payload: &'a [u8]) -> Self {
                Self {
                    frame: crate::codec::lookup::common::Frame::assume_valid(payload),
                }
            }

            /// Number of items.
            #[inline]
            pub fn len(&self) -> usize {
                self.frame.count()
            }

            /// Whether the response has no items.
            #[inline]
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The provider's generation (advisory; any value).
            #[inline]
            pub fn generation(&self) -> u64 {
                self.frame.word()
            }

            /// Item `i`, if `i < len()`.
            #[inline]
            pub fn item(&self, i: usize) -> Option<ItemView<'a>> {
                self.frame.entry(i).map(|bytes| ItemView { bytes })
            }

            /// The items in order.
            pub fn iter(&self) -> Items<'a> {
                Items(crate::codec::lookup::common::Entries::new(self.frame))
            }

            /// The whole payload.
            #[inline]
            pub fn as_bytes(&self) -> &'a [u8] {
                self.frame.payload()
            }
        }

        crate::codec::lookup::views::view_into_iter!(ResponseView, ItemView<'a>, Items);

        /// One validated response item.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct ItemView<'a> {
            bytes: &'a [u8],
        }

        impl<'a> ItemView<'a> {
            /// The item's bytes, exactly its directory range. Items are
            /// self-contained (all offsets are item-relative), so these
            /// bytes can be copied into another response unchanged
            /// (`ResponseBuilder::push_item`).
            #[inline]
            pub fn as_bytes(&self) -> &'a [u8] {
                self.bytes
            }

            /// The string whose `(offset, length)` pair is at `at`.
            fn string(&self, at: usize) -> &'a [u8] {
                use crate::codec::lookup::common::u32_at;
                let off = u32_at(self.bytes, at) as usize;
                let len = u32_at(self.bytes, at + 4) as usize;
                self.bytes.get(off..off + len).unwrap_or_default()
            }
        }

        impl<'a> crate::codec::lookup::views::Response<'a> for ResponseView<'a> {
            type Item = ItemView<'a>;
            type Items = Items<'a>;
            fn decode(payload: &'a [u8]) -> Result<Self, crate::codec::lookup::LookupError> {
                ResponseView::decode(payload)
            }
            fn generation(&self) -> u64 {
                ResponseView::generation(self)
            }
            fn len(&self) -> usize {
                ResponseView::len(self)
            }
            fn iter(&self) -> Items<'a> {
                ResponseView::iter(self)
            }
            fn item_bytes(item: &ItemView<'a>) -> &'a [u8] {
                item.as_bytes()
            }
        }

        crate::codec::lookup::views::entry_iter!(
            /// Iterator over the items of a [`ResponseView`].
            Items, ItemView<'a>, |bytes| ItemView { bytes }
        );
    };
}

/// A method's decoded response as a stitching client reads it (§18.5,
/// §18.6); [`response_view!`] implements it for both methods'
/// `ResponseView`, forwarding to the inherent methods of the same names.
pub(crate) trait Response<'a>: Sized {
    /// The method's item view.
    type Item;
    /// Its iterator over the items.
    type Items: Iterator<Item = Self::Item>;
    /// Validates a response payload.
    fn decode(payload: &'a [u8]) -> Result<Self, crate::codec::lookup::LookupError>;
    /// The provider's generation.
    fn generation(&self) -> u64;
    /// Number of items.
    fn len(&self) -> usize;
    /// The items in order.
    fn iter(&self) -> Self::Items;
    /// An item's bytes, exactly its directory range.
    fn item_bytes(item: &Self::Item) -> &'a [u8];
}

/// A method's plain `ResponseBuilder` as a stitching client fills it
/// (§18.6); [`plain_builder!`] implements it for both methods.
pub(crate) trait PlainBuilder {
    /// Items added so far.
    fn len(&self) -> usize;
    /// Replaces the generation `finish` writes.
    fn set_generation(&mut self, generation: u64);
    /// Appends a copy of a validated item's bytes.
    fn push_bytes(&mut self, item: &[u8]) -> Result<(), crate::codec::lookup::LookupError>;
    /// Completes the payload and returns its length.
    fn finish(self) -> Result<usize, crate::codec::lookup::LookupError>;
}

/// Implements [`PlainBuilder`] for a module's `ResponseBuilder<'b>`
/// wrapping a `PlainCore`.
macro_rules! plain_builder {
    () => {
        impl crate::codec::lookup::views::PlainBuilder for ResponseBuilder<'_> {
            fn len(&self) -> usize {
                self.core.len()
            }
            fn set_generation(&mut self, generation: u64) {
                self.core.set_generation(generation);
            }
            fn push_bytes(&mut self, item: &[u8]) -> Result<(), LookupError> {
                self.core.push(item.len(), |dst| dst.copy_from_slice(item))
            }
            fn finish(self) -> Result<usize, LookupError> {
                self.core.finish()
            }
        }
    };
}

/// Expands to a public `#[repr(u16)]` status enum with the given docs and
/// variants, and its `code` / `from_code` conversions.
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $code:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $code,)+
        }

        impl $name {
            /// The wire value.
            pub const fn code(self) -> u16 {
                self as u16
            }

            /// The status for a wire value, `None` if undefined.
            pub const fn from_code(code: u16) -> Option<Self> {
                Some(match code {
                    $($code => Self::$variant,)+
                    _ => return None,
                })
            }
        }
    };
}

/// Expands to `IntoIterator` for `$view<'a>` and `&$view<'a>`, both
/// through `$view::iter`, which returns an `$iter<'a>` of `$item`.
macro_rules! view_into_iter {
    ($view:ident, $item:ty, $iter:ident) => {
        impl<'a> IntoIterator for $view<'a> {
            type Item = $item;
            type IntoIter = $iter<'a>;
            fn into_iter(self) -> $iter<'a> {
                self.iter()
            }
        }

        impl<'a> IntoIterator for &$view<'a> {
            type Item = $item;
            type IntoIter = $iter<'a>;
            fn into_iter(self) -> $iter<'a> {
                self.iter()
            }
        }
    };
}

/// Expands to a double-ended, exact-size iterator `$name<'a>` over the
/// entries of a frame, mapping each entry's bytes with `$map`.
macro_rules! entry_iter {
    ($(#[$doc:meta])* $name:ident, $item:ty, $map:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name<'a>(crate::codec::lookup::common::Entries<'a>);

        impl<'a> Iterator for $name<'a> {
            type Item = $item;
            fn next(&mut self) -> Option<$item> {
                self.0.next().map($map)
            }
            fn size_hint(&self) -> (usize, Option<usize>) {
                (self.0.remaining(), Some(self.0.remaining()))
            }
        }

        impl<'a> DoubleEndedIterator for $name<'a> {
            fn next_back(&mut self) -> Option<$item> {
                self.0.next_back().map($map)
            }
        }

        impl ExactSizeIterator for $name<'_> {}
        impl core::iter::FusedIterator for $name<'_> {}
    };
}

/// Expands to the methods of a `ResponseBuilder` wrapping a `PlainCore`
/// (everything but `push`).
macro_rules! plain_builder_methods {
    () => {
        /// Starts a response with `generation`, reserving `item_hint`
        /// directory slots (the hint never changes the bytes).
        pub fn new(buf: &'b mut Vec<u8>, generation: u64, item_hint: usize) -> Self {
            Self {
                core: PlainCore::new(buf, generation, item_hint),
            }
        }

        /// Caps the finished payload at `max_len` bytes: an item that would
        /// cross it is refused with [`LookupError::TooLarge`] (the client's
        /// stitched-bytes ceiling, §18.6).
        #[must_use]
        pub fn with_limit(mut self, max_len: usize) -> Self {
            self.core.set_limit(max_len);
            self
        }

        /// Replaces the generation [`finish`](Self::finish) writes (a
        /// stitching client learns it from the first sub-response).
        #[inline]
        pub fn set_generation(&mut self, generation: u64) {
            self.core.set_generation(generation);
        }

        /// Items added so far.
        #[inline]
        pub fn len(&self) -> usize {
            self.core.len()
        }

        /// Whether no item was added yet.
        #[inline]
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Payload length if finished now.
        #[inline]
        pub fn payload_len(&self) -> usize {
            self.core.payload_len()
        }

        /// Appends a copy of a decoded item, byte for byte (stitching,
        /// §18.6).
        ///
        /// # Errors
        ///
        /// [`LookupError::TooLarge`] over the limit,
        /// [`LookupError::FieldOverflow`] past 32-bit sizes. Nothing is
        /// written on error.
        pub fn push_item(&mut self, item: &ItemView<'_>) -> Result<(), LookupError> {
            crate::codec::lookup::views::PlainBuilder::push_bytes(self, item.as_bytes())
        }

        /// Completes the payload and returns its length.
        ///
        /// # Errors
        ///
        /// [`LookupError::TooLarge`] if even the 16-byte header is over the
        /// limit.
        pub fn finish(self) -> Result<usize, LookupError> {
            self.core.finish()
        }
    };
}

/// Expands to the accessors of a `ReplyBuilder` wrapping a `ReplyCore` and
/// a `request` (everything but `new`, `next_key`, `add` and `finish`).
macro_rules! reply_builder_methods {
    () => {
        /// Index of the key the next [`add`](Self::add) answers.
        #[inline]
        pub fn next_index(&self) -> usize {
            self.core.next()
        }

        /// The request being answered.
        #[inline]
        pub fn request(&self) -> RequestView<'r> {
            self.request
        }

        /// Whether the budget ran out: every remaining key is answered
        /// PAYLOAD_EXCEEDED, so a provider can stop looking them up.
        #[inline]
        pub fn is_exceeded(&self) -> bool {
            self.core.exceeded()
        }

        /// The response budget.
        #[inline]
        pub fn budget(&self) -> usize {
            self.core.budget()
        }

        /// Payload length so far.
        #[inline]
        pub fn payload_len(&self) -> usize {
            self.core.payload_len()
        }

        /// Sets the generation written by [`finish`](Self::finish).
        #[inline]
        pub fn set_generation(&mut self, generation: u64) {
            self.core.set_generation(generation);
        }
    };
}

pub(crate) use {
    entry_iter, plain_builder, plain_builder_methods, reply_builder_methods, response_view,
    status_enum, view_into_iter,
};
