//! What a config says becomes of a domain when its guest powers off,
//! reboots or crashes (`on_poweroff`, `on_reboot`, `on_crash`): an
//! [`Action`], by its xl.cfg spelling.

/// What happens when a guest powers off, reboots or crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The domain goes away.
    Destroy,
    /// It starts again.
    Restart,
    /// It is kept, stopped, for inspection.
    Preserve,
}

impl Action {
    /// The action spelled `s` (`None`: no action of xl.cfg).
    pub(super) fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "destroy" => Action::Destroy,
            "restart" => Action::Restart,
            "preserve" => Action::Preserve,
            _ => return None,
        })
    }

    /// Its xl.cfg spelling.
    pub fn name(self) -> &'static str {
        match self {
            Action::Destroy => "destroy",
            Action::Restart => "restart",
            Action::Preserve => "preserve",
        }
    }
}
