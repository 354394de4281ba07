//! What a cgroup name says about the cgroup: its orchestrator and a few
//! labels, all read from the path alone.
//!
//! [`classify`] is a pure function of the cgroup's *name* (its path relative
//! to the hierarchy root, no leading slash, as [`crate::cgroupfs`] names
//! cgroups). It never touches the filesystem, so it costs the same for every
//! cgroup and cannot be steered by a client into reading anything.
//!
//! # Orchestrator
//!
//! The components of the name are examined left to right; the first
//! component that matches one of the container or virtual-machine patterns
//! below decides, so a cgroup nested inside a container (for example
//! `system.slice/docker-<id>.scope/init.scope`) belongs to that container,
//! and a Docker container run by Kubernetes is reported as Kubernetes.
//!
//! | pattern (one component unless noted) | orchestrator | labels |
//! |---|---|---|
//! | starts with `kubepods` | K8S (3) | `qos_class`, `pod_uid`, `container_id` |
//! | `docker-<hex>.scope`; or `docker` followed by a 64-hex component | DOCKER (2) | `container_id` |
//! | starts with `libpod` (`libpod-<id>.scope`, `libpod-conmon-<id>.scope`, `libpod_parent`) | PODMAN (6) | `container_id` |
//! | `lxc` followed by another component; `lxc.payload.<name>`; `lxc.monitor.<name>`; `machine-lxc…` | LXC (5) | `container_name` |
//! | starts with `machine-qemu`; or `machine` followed by `qemu-…` | KVM (4) | `machine_name` |
//! | `systemd-nspawn@<name>.service`; other `machine-<name>.scope` | NSPAWN (7) | `machine_name` |
//!
//! When no component matches, the name is a systemd unit if any component
//! ends in `.service`, `.scope` or `.slice`: SYSTEMD (1) with the label
//! `unit` = the deepest such component. Anything else — the root `/`
//! included — is UNKNOWN (0) without labels.
//!
//! # Labels
//!
//! Every label is a slice of one path component (component names are at most
//! 255 bytes on Linux), transformed at most by dropping a fixed prefix or
//! suffix, turning `_` into `-` (Kubernetes pod uids under the systemd cgroup
//! driver) or decoding systemd's `\xHH` escapes. A label is left out when its
//! value would be empty. Keys:
//!
//! * `qos_class`: `guaranteed`, `burstable` or `besteffort` — the QoS tier
//!   directory, or `guaranteed` for a pod directly under `kubepods`;
//! * `pod_uid`: the uid after `pod` in the pod component;
//! * `container_id`: the hexadecimal id of the container (for Kubernetes the
//!   component below the pod, with a `cri-containerd-`, `crio-`, `docker-` or
//!   `cri-o-` prefix and `.scope` suffix removed, kept only if it is all
//!   hex);
//! * `container_name`, `machine_name`: the LXC container, nspawn machine or
//!   virtual machine name;
//! * `unit`: the systemd unit name.

/// Orchestrator of a cgroup: the protocol's §14.7 value, shared with the
/// lookup codecs.
pub use netipc::codec::lookup::Orchestrator;

use netipc::codec::lookup::Label as WireLabel;

/// Most labels [`classify`] ever gives one cgroup (Kubernetes: `qos_class`,
/// `pod_uid`, `container_id`).
pub const MAX_LABELS: usize = 3;

/// One label: a fixed key and a value taken from the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Label key (see the [module documentation](self)).
    pub key: &'static str,
    /// Label value; never empty, never contains NUL or `/`.
    pub value: Vec<u8>,
}

/// What a cgroups lookup answers for a known cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMeta {
    /// The cgroup's name: its path relative to the hierarchy root without a
    /// leading slash, `/` for the root — the name the snapshot uses.
    pub name: Vec<u8>,
    /// Orchestrator detected from the name.
    pub orchestrator: Orchestrator,
    /// Labels detected from the name, in a fixed order per orchestrator.
    pub labels: Vec<Label>,
}

impl CgroupMeta {
    /// Classifies `name` (see [`classify`]) and keeps it.
    pub fn from_name(name: Vec<u8>) -> Self {
        let (orchestrator, labels) = classify(&name);
        Self {
            name,
            orchestrator,
            labels,
        }
    }

    /// Calls `f` with the labels as the lookup codecs take them, borrowed
    /// from a stack array: no allocation per answer.
    ///
    /// ```
    /// use netipc_cli::cgroup_meta::CgroupMeta;
    ///
    /// let meta = CgroupMeta::from_name(b"lxc/web".to_vec());
    /// let n = meta.with_wire_labels(|labels| {
    ///     assert_eq!((labels[0].key, labels[0].value), (&b"container_name"[..], &b"web"[..]));
    ///     labels.len()
    /// });
    /// assert_eq!(n, 1);
    /// ```
    pub fn with_wire_labels<R>(&self, f: impl FnOnce(&[WireLabel<'_>]) -> R) -> R {
        let mut wire = [WireLabel::new(b"", b""); MAX_LABELS];
        let mut n = 0;
        for (slot, label) in wire.iter_mut().zip(&self.labels) {
            *slot = WireLabel::new(label.key.as_bytes(), &label.value);
            n += 1;
        }
        f(&wire[..n])
    }

    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&[u8]> {
        self.labels
            .iter()
            .find(|l| l.key == key)
            .map(|l| l.value.as_slice())
    }
}

/// Orchestrator and labels of the cgroup named `name`, following the rules
/// in the [module documentation](self).
///
/// ```
/// use netipc_cli::cgroup_meta::{classify, Orchestrator};
///
/// let (o, labels) = classify(b"system.slice/ssh.service");
/// assert_eq!(o, Orchestrator::SYSTEMD);
/// assert_eq!(labels[0].key, "unit");
/// assert_eq!(labels[0].value, b"ssh.service");
/// ```
pub fn classify(name: &[u8]) -> (Orchestrator, Vec<Label>) {
    let parts: Vec<&[u8]> = name.split(|&b| b == b'/').collect();
    let mut labels = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let next = parts.get(i + 1).copied();
        if let Some(o) = container(part, next, &parts[i..], &mut labels) {
            return (o, labels);
        }
    }
    if let Some(unit) = parts.iter().rev().find(|p| is_unit(p)) {
        push(&mut labels, "unit", unit.to_vec());
        return (Orchestrator::SYSTEMD, labels);
    }
    (Orchestrator::UNKNOWN, labels)
}

/// Whether a component names a systemd unit that can hold processes or
/// groups (`.service`, `.scope`, `.slice`) and has a non-empty stem.
fn is_unit(part: &[u8]) -> bool {
    [&b".service"[..], b".scope", b".slice"]
        .iter()
        .any(|s| part.len() > s.len() && part.ends_with(s))
}

/// Appends a label unless its value is empty.
fn push(labels: &mut Vec<Label>, key: &'static str, value: Vec<u8>) {
    if !value.is_empty() {
        labels.push(Label { key, value });
    }
}

fn is_hex(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_hexdigit)
}

/// `part` without `prefix` and, if present, without `suffix`.
fn strip<'a>(part: &'a [u8], prefix: &[u8], suffix: &[u8]) -> Option<&'a [u8]> {
    let rest = part.strip_prefix(prefix)?;
    Some(rest.strip_suffix(suffix).unwrap_or(rest))
}

/// Decodes systemd's `\xHH` escapes (`machine-qemu\x2d1\x2dvm` →
/// `machine-qemu-1-vm`); anything else is copied unchanged.
fn unescape_systemd(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'x') {
            if let Some(byte) = s
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|&b| b != 0 && b != b'/')
            {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Tries the container and VM patterns on component `part`, with `next` the
/// following component and `rest` this and every later component.
fn container(
    part: &[u8],
    next: Option<&[u8]>,
    rest: &[&[u8]],
    labels: &mut Vec<Label>,
) -> Option<Orchestrator> {
    if part.starts_with(b"kubepods") {
        kubernetes(rest, labels);
        return Some(Orchestrator::K8S);
    }
    if let Some(id) = strip(part, b"docker-", b".scope").filter(|_| part.ends_with(b".scope")) {
        if is_hex(id) {
            push(labels, "container_id", id.to_vec());
            return Some(Orchestrator::DOCKER);
        }
    }
    if part == b"docker" {
        if let Some(id) = next.filter(|n| n.len() == 64 && is_hex(n)) {
            push(labels, "container_id", id.to_vec());
            return Some(Orchestrator::DOCKER);
        }
    }
    if part.starts_with(b"libpod") {
        let id = strip(part, b"libpod-conmon-", b".scope")
            .or_else(|| strip(part, b"libpod-", b".scope"))
            .or_else(|| next.and_then(|n| strip(n, b"libpod-", b".scope")))
            .filter(|id| is_hex(id));
        if let Some(id) = id {
            push(labels, "container_id", id.to_vec());
        }
        return Some(Orchestrator::PODMAN);
    }
    if part == b"lxc" {
        if let Some(name) = next {
            push(labels, "container_name", name.to_vec());
            return Some(Orchestrator::LXC);
        }
    }
    if let Some(name) =
        strip(part, b"lxc.payload.", b"").or_else(|| strip(part, b"lxc.monitor.", b""))
    {
        push(labels, "container_name", name.to_vec());
        return Some(Orchestrator::LXC);
    }
    if part.starts_with(b"machine-") && part.ends_with(b".scope") {
        let name = unescape_systemd(strip(part, b"machine-", b".scope").unwrap_or_default());
        let orchestrator = if name.starts_with(b"qemu") {
            Orchestrator::KVM
        } else if name.starts_with(b"lxc-") {
            Orchestrator::LXC
        } else {
            Orchestrator::NSPAWN
        };
        let key = if orchestrator == Orchestrator::LXC {
            "container_name"
        } else {
            "machine_name"
        };
        push(labels, key, name);
        return Some(orchestrator);
    }
    if part == b"machine" {
        if let Some(vm) = next.filter(|n| n.starts_with(b"qemu-")) {
            let name = strip(vm, b"", b".libvirt-qemu").unwrap_or(vm);
            push(labels, "machine_name", name.to_vec());
            return Some(Orchestrator::KVM);
        }
    }
    if let Some(name) = strip(part, b"systemd-nspawn@", b".service") {
        push(labels, "machine_name", unescape_systemd(name));
        return Some(Orchestrator::NSPAWN);
    }
    None
}

/// Kubernetes labels from the components starting at the first `kubepods…`
/// one. Handles the cgroupfs driver (`kubepods/burstable/pod<uid>/<id>`) and
/// the systemd driver (`kubepods.slice/kubepods-burstable.slice/
/// kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope`).
fn kubernetes(parts: &[&[u8]], labels: &mut Vec<Label>) {
    let qos_of = |p: &[u8]| -> Option<&'static str> {
        let p = p.strip_suffix(b".slice").unwrap_or(p);
        ["burstable", "besteffort"].into_iter().find(|q| {
            p == q.as_bytes()
                || p.strip_prefix(b"kubepods-")
                    .is_some_and(|r| r == q.as_bytes())
        })
    };
    let pod_at = parts.iter().position(|p| pod_uid(p).is_some());
    let qos = parts.iter().find_map(|p| qos_of(p));
    if let Some(i) = pod_at {
        push(
            labels,
            "qos_class",
            qos.unwrap_or("guaranteed").as_bytes().to_vec(),
        );
        push(labels, "pod_uid", pod_uid(parts[i]).unwrap_or_default());
        if let Some(id) = parts.get(i + 1).and_then(|c| container_id(c)) {
            push(labels, "container_id", id.to_vec());
        }
    } else if let Some(q) = qos {
        push(labels, "qos_class", q.as_bytes().to_vec());
    }
}

/// The pod uid in a pod component: `pod<uid>` or
/// `kubepods[-<qos>]-pod<uid>.slice` (underscores turned back into dashes).
fn pod_uid(part: &[u8]) -> Option<Vec<u8>> {
    let uid = if let Some(uid) = part.strip_prefix(b"pod") {
        uid
    } else {
        let stem = part.strip_prefix(b"kubepods-")?.strip_suffix(b".slice")?;
        let at = stem.windows(3).position(|w| w == b"pod")?;
        if at != 0 && stem[at - 1] != b'-' {
            return None;
        }
        &stem[at + 3..]
    };
    if uid.is_empty() {
        return None;
    }
    Some(
        uid.iter()
            .map(|&b| if b == b'_' { b'-' } else { b })
            .collect(),
    )
}

/// The container id in the component below a pod.
fn container_id(part: &[u8]) -> Option<&[u8]> {
    let id = ["cri-containerd-", "crio-", "docker-", "cri-o-"]
        .iter()
        .find_map(|p| strip(part, p.as_bytes(), b".scope"))
        .unwrap_or(part);
    Some(id).filter(|id| is_hex(id))
}
