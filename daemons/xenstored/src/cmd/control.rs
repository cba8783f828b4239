//! CONTROL: `log on|off`, `quota`, `memreport`, `help`.
//!
//! # Format
//! `command\0arg\0...`; the reply is text, NUL-terminated.

use super::{ParseError, Payload};
use crate::daemon::Daemon;
use crate::store::Caller;

/// A CONTROL command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// `help` (arguments ignored): the commands.
    Help,
    /// `log on` / `log off`: request logging.
    Log(bool),
    /// `quota`: the bounds in force.
    Quota,
    /// `memreport`: nodes, connections, domains.
    MemReport,
}

impl Control {
    /// From `command\0arg\0...`.
    pub fn parse(p: &Payload<'_>) -> Result<Control, ParseError> {
        let s = p.at_least(1, "at least 1")?;
        match (s[0], &s[1..]) {
            (b"help", _) => Ok(Control::Help),
            (b"log", [b"on"]) => Ok(Control::Log(true)),
            (b"log", [b"off"]) => Ok(Control::Log(false)),
            (b"quota", []) => Ok(Control::Quota),
            (b"memreport", []) => Ok(Control::MemReport),
            _ => Err(ParseError::Control(
                String::from_utf8_lossy(&s.join(&b' ')).into_owned(),
            )),
        }
    }

    /// The reply text.
    pub fn apply(self, d: &mut Daemon) -> Vec<u8> {
        let reply = match self {
            Control::Help => "log [on|off]\nquota\nmemreport\nhelp\n".to_string(),
            Control::Log(on) => {
                d.log_requests = on;
                "OK".to_string()
            }
            Control::Quota => quota(d),
            Control::MemReport => format!(
                "nodes: {}\nconnections: {}\ndomains: {}\n",
                d.store.len(),
                d.conns.len(),
                d.domains.len()
            ),
        };
        let mut v = reply.into_bytes();
        v.push(0);
        v
    }
}

/// `quota`: one row per bound, as Xen's `xenstore-control quota` prints.
fn quota(d: &Daemon) -> String {
    let l = d.limits;
    let m = l.manage;
    let c = l.control;
    let rows: [(&str, usize, &str); 17] = [
        ("nodes", l.quota.entry_nb, "Nodes per domain"),
        ("watches", l.watch_nb, "Watches per domain"),
        ("transactions", l.transaction, "Transactions per domain"),
        ("node-size", l.quota.entry_size, "Max size of a node"),
        ("path-max", l.path_max, "Max length of a node path"),
        (
            "permissions",
            l.quota.perm_nb,
            "Max number of permissions per node",
        ),
        (
            "transaction-nodes",
            l.txn.nodes,
            "Max. number of accessed nodes per transaction",
        ),
        (
            "transaction-ops",
            l.txn.ops,
            "Max. number of changes per transaction",
        ),
        (
            "transaction-memory",
            l.txn.bytes,
            "Max. bytes held by a transaction",
        ),
        (
            "control-watches",
            c.watch_nb,
            "Watches per xvm_control connection",
        ),
        (
            "control-transactions",
            c.transaction,
            "Transactions per xvm_control connection",
        ),
        (
            "manage-nodes",
            m.quota.entry_nb,
            "Nodes created by virt_manage peers",
        ),
        (
            "manage-watches",
            m.watch_nb,
            "Watches per virt_manage connection",
        ),
        (
            "manage-transactions",
            m.transaction,
            "Transactions per virt_manage connection",
        ),
        (
            "manage-node-size",
            m.quota.entry_size,
            "Max size of a node (virt_manage)",
        ),
        (
            "manage-permissions",
            m.quota.perm_nb,
            "Max number of permissions per node (virt_manage)",
        ),
        (
            "manage-used",
            d.store.counted(Caller::Manage),
            "Nodes virt_manage peers created (since start)",
        ),
    ];
    let mut text = String::from("Quota settings:\n");
    for (name, value, what) in rows {
        text.push_str(&format!("{name:<17}: {value:>8} {what}\n"));
    }
    text
}
