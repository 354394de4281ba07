//! Kinds, control opcodes, method codes, transport statuses and profile bits.

use super::WireError;

/// The `kind` field of the outer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Kind {
    /// Client to server.
    Request = 1,
    /// Server to client.
    Response = 2,
    /// Handshake (HELLO / HELLO_ACK).
    Control = 3,
}

impl TryFrom<u16> for Kind {
    type Error = WireError;
    fn try_from(v: u16) -> Result<Self, WireError> {
        match v {
            1 => Ok(Kind::Request),
            2 => Ok(Kind::Response),
            3 => Ok(Kind::Control),
            found => Err(WireError::UnknownKind { found }),
        }
    }
}

/// The `code` of a CONTROL message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ControlOpcode {
    /// Client's handshake proposal.
    Hello = 1,
    /// Server's handshake answer.
    HelloAck = 2,
}

impl TryFrom<u16> for ControlOpcode {
    type Error = WireError;
    fn try_from(v: u16) -> Result<Self, WireError> {
        match v {
            1 => Ok(ControlOpcode::Hello),
            2 => Ok(ControlOpcode::HelloAck),
            found => Err(WireError::UnknownControlOpcode { found }),
        }
    }
}

/// The `code` of a REQUEST or RESPONSE: the method. Codes are global across
/// services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Method {
    /// Test method: one u64, answered with the value plus one.
    Increment = 1,
    /// The cgroups snapshot.
    CgroupsSnapshot = 2,
    /// Test method: one string, answered reversed.
    StringReverse = 3,
    /// Cgroup metadata by path (service `cgroups-lookup`).
    CgroupsLookup = 4,
    /// Process metadata by PID (service `apps-lookup`).
    AppsLookup = 5,
}

impl Method {
    /// The wire code.
    pub const fn code(self) -> u16 {
        self as u16
    }
}

impl TryFrom<u16> for Method {
    type Error = WireError;
    fn try_from(v: u16) -> Result<Self, WireError> {
        match v {
            1 => Ok(Method::Increment),
            2 => Ok(Method::CgroupsSnapshot),
            3 => Ok(Method::StringReverse),
            4 => Ok(Method::CgroupsLookup),
            5 => Ok(Method::AppsLookup),
            found => Err(WireError::UnknownMethod { found }),
        }
    }
}

/// The `transport_status` of a response or HELLO_ACK (envelope level only;
/// business results live in payloads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// The server could not decode the request payload.
    BadEnvelope = 1,
    /// The HELLO's auth token does not match the server's.
    AuthFailed = 2,
    /// Versions, layouts or packet sizes cannot work together.
    Incompatible = 3,
    /// No common profile, or a method this endpoint does not serve.
    Unsupported = 4,
    /// A size limit was exceeded.
    LimitExceeded = 5,
    /// The server's handler failed.
    InternalError = 6,
}

impl Status {
    /// The wire value.
    pub const fn code(self) -> u16 {
        self as u16
    }
}

impl TryFrom<u16> for Status {
    type Error = WireError;
    fn try_from(v: u16) -> Result<Self, WireError> {
        match v {
            0 => Ok(Status::Ok),
            1 => Ok(Status::BadEnvelope),
            2 => Ok(Status::AuthFailed),
            3 => Ok(Status::Incompatible),
            4 => Ok(Status::Unsupported),
            5 => Ok(Status::LimitExceeded),
            6 => Ok(Status::InternalError),
            found => Err(WireError::UnknownStatus { found }),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::BadEnvelope => "BAD_ENVELOPE",
            Status::AuthFailed => "AUTH_FAILED",
            Status::Incompatible => "INCOMPATIBLE",
            Status::Unsupported => "UNSUPPORTED",
            Status::LimitExceeded => "LIMIT_EXCEEDED",
            Status::InternalError => "INTERNAL_ERROR",
        })
    }
}

/// A set of transport profiles (bit set, PROTOCOL.md §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Profiles(pub u32);

impl Profiles {
    /// UDS SEQPACKET, the baseline every peer supports.
    pub const BASELINE: Profiles = Profiles(0x01);
    /// Shared memory, spin then futex.
    pub const SHM_HYBRID: Profiles = Profiles(0x02);
    /// Shared memory; on Linux the same region and sync as [`Self::SHM_HYBRID`].
    pub const SHM_FUTEX: Profiles = Profiles(0x04);
    /// Both shared-memory profiles.
    pub const SHM_ANY: Profiles = Profiles(0x06);
    /// Every profile this implementation can run on Linux.
    pub const ALL_LINUX: Profiles = Profiles(0x07);

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// True when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Profiles) -> bool {
        self.0 & other.0 == other.0
    }
    /// True when `self` and `other` share a bit.
    pub const fn intersects(self, other: Profiles) -> bool {
        self.0 & other.0 != 0
    }
    /// Bits set in both.
    pub const fn intersection(self, other: Profiles) -> Profiles {
        Profiles(self.0 & other.0)
    }
    /// `self` without the bits of `other`.
    pub const fn without(self, other: Profiles) -> Profiles {
        Profiles(self.0 & !other.0)
    }
    /// The highest set bit alone (empty stays empty).
    pub const fn highest(self) -> Profiles {
        if self.0 == 0 {
            Profiles(0)
        } else {
            Profiles(1 << (31 - self.0.leading_zeros()))
        }
    }
    /// True when exactly one bit is set.
    pub const fn is_single(self) -> bool {
        self.0.is_power_of_two()
    }
    /// True when this set includes a shared-memory profile.
    pub const fn has_shm(self) -> bool {
        self.intersects(Self::SHM_ANY)
    }
}

impl std::ops::BitOr for Profiles {
    type Output = Profiles;
    fn bitor(self, rhs: Profiles) -> Profiles {
        Profiles(self.0 | rhs.0)
    }
}

impl std::fmt::Display for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (bit, name) in [(1, "UDS_SEQPACKET"), (2, "SHM_HYBRID"), (4, "SHM_FUTEX")] {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let rest = self.0 & !7;
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{rest:#x}")?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}
