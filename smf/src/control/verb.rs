//! The verbs of the control protocol and the one table of what each needs
//! and what serves it.

use privlib::names::{PrivId, virt_manage, xvm_control};

use super::error::{Answer, ControlError};
use super::handlers::{
    clear, disable, enable, getprop, list, listprop, refresh, restart, setprop, show,
};
use crate::restarter::Restarter;

/// Longest unknown verb quoted back in an error.
const VERB_QUOTE_MAX: usize = 64;

/// What a verb needs the peer to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reading: `xvm_control` or `virt_manage`.
    Read,
    /// Changing: `xvm_control`.
    Write,
}

impl Access {
    /// The privileges, any one of which lets the peer in.
    pub fn privileges(self) -> Vec<PrivId> {
        match self {
            Access::Read => vec![xvm_control(), virt_manage()],
            Access::Write => vec![xvm_control()],
        }
    }
}

/// A handler: the restarter and the request's fields after the verb.
pub type Handler = fn(&mut Restarter, &[String]) -> Answer;

/// The verbs of the control protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `list`: every instance, one line each.
    List,
    /// `show FMRI`: one instance, `key\tvalue` lines.
    Show,
    /// `getprop FMRI pg/prop`: one property (an error if none).
    Getprop,
    /// `listprop FMRI [pg/prop]`: the properties.
    Listprop,
    /// `enable FMRI [-t]`.
    Enable,
    /// `disable FMRI [-t]`.
    Disable,
    /// `restart FMRI`.
    Restart,
    /// `refresh FMRI`: reread the properties.
    Refresh,
    /// `clear FMRI`: out of maintenance.
    Clear,
    /// `setprop FMRI pg/prop TYPE VALUE`.
    Setprop,
}

impl Verb {
    /// The verb named `s`.
    pub fn parse(s: &str) -> Result<Verb, ControlError> {
        Ok(match s {
            "list" => Verb::List,
            "show" => Verb::Show,
            "getprop" => Verb::Getprop,
            "listprop" => Verb::Listprop,
            "enable" => Verb::Enable,
            "disable" => Verb::Disable,
            "restart" => Verb::Restart,
            "refresh" => Verb::Refresh,
            "clear" => Verb::Clear,
            "setprop" => Verb::Setprop,
            "" => return Err(ControlError::Empty),
            other => {
                let mut quoted: String = other.chars().take(VERB_QUOTE_MAX).collect();
                if quoted.len() < other.len() {
                    quoted.push_str("...");
                }
                return Err(ControlError::UnknownVerb(quoted));
            }
        })
    }

    /// The one table: what each verb needs, and what serves it. A verb
    /// added to [`Verb`] does not compile until it has a line here.
    pub fn entry(self) -> (Access, Handler) {
        match self {
            Verb::List => (Access::Read, list),
            Verb::Show => (Access::Read, show),
            Verb::Getprop => (Access::Read, getprop),
            Verb::Listprop => (Access::Read, listprop),
            Verb::Enable => (Access::Write, enable),
            Verb::Disable => (Access::Write, disable),
            Verb::Restart => (Access::Write, restart),
            Verb::Refresh => (Access::Write, refresh),
            Verb::Clear => (Access::Write, clear),
            Verb::Setprop => (Access::Write, setprop),
        }
    }

    /// What a peer must hold to send this verb.
    pub fn access(self) -> Access {
        self.entry().0
    }
}

/// One request: its verb and the fields after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The verb.
    pub verb: Verb,
    /// The fields after the verb.
    pub args: Vec<String>,
}

impl Request {
    /// Parses a line (without its newline).
    pub fn parse(line: &str) -> Result<Request, ControlError> {
        let mut fields = line.split('\t');
        let verb = Verb::parse(fields.next().unwrap_or(""))?;
        Ok(Request {
            verb,
            args: fields.map(str::to_string).collect(),
        })
    }
}

/// Serves one request in the restarter's loop; data lines, or why not.
pub fn handle(r: &mut Restarter, req: &Request) -> Answer {
    let (_, handler) = req.verb.entry();
    handler(r, &req.args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verb_parses_with_its_privilege_and_unknown_ones_are_named() {
        let table = [
            ("list", Verb::List, Access::Read),
            ("show", Verb::Show, Access::Read),
            ("getprop", Verb::Getprop, Access::Read),
            ("listprop", Verb::Listprop, Access::Read),
            ("enable", Verb::Enable, Access::Write),
            ("disable", Verb::Disable, Access::Write),
            ("restart", Verb::Restart, Access::Write),
            ("refresh", Verb::Refresh, Access::Write),
            ("clear", Verb::Clear, Access::Write),
            ("setprop", Verb::Setprop, Access::Write),
        ];
        for (name, verb, access) in table {
            let v = Verb::parse(name).expect(name);
            assert_eq!((v, v.access()), (verb, access), "{name}");
        }
        assert_eq!(Access::Write.privileges(), vec![xvm_control()]);
        assert_eq!(
            Access::Read.privileges(),
            vec![xvm_control(), virt_manage()]
        );
        let e = Request::parse("destroy\tstore").expect_err("unknown");
        assert_eq!(e.to_string(), "unknown verb destroy");
        assert_eq!(
            Request::parse("").expect_err("empty").to_string(),
            "empty request"
        );
        let long = "x".repeat(1000);
        let e = Verb::parse(&long).expect_err("unknown").to_string();
        assert!(e.len() < 100 && e.ends_with("..."), "{e}");
        assert_eq!(
            Request::parse("show\tstore\t-t").expect("parses"),
            Request {
                verb: Verb::Show,
                args: vec!["store".into(), "-t".into()]
            }
        );
    }
}
