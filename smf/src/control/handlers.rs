//! What each verb does: read or change the restarter, data lines back.

use super::error::{Answer, ControlError};
use crate::fmri::Fmri;
use crate::manifest::{PropType, split_prop};
use crate::props::Override;
use crate::restarter::{Restarter, State, humantime};

fn instance(r: &Restarter, f: Option<&String>) -> Result<usize, ControlError> {
    let f = f.ok_or(ControlError::Usage("an FMRI is needed"))?;
    r.find(&Fmri::parse(f).map_err(ControlError::Fmri)?)
        .map_err(ControlError::Instance)
}

pub(super) fn list(r: &mut Restarter, _: &[String]) -> Answer {
    Ok(r.svcs
        .iter()
        .map(|s| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                s.state.name(),
                humantime(s.since),
                s.r.fmri,
                s.child.as_ref().map_or(0, privlib::Child::pid),
                s.uid,
                s.reason
            )
        })
        .collect())
}

pub(super) fn show(r: &mut Restarter, args: &[String]) -> Answer {
    let i = instance(r, args.first())?;
    let s = &r.svcs[i];
    let mut out = vec![
        format!("fmri\t{}", s.r.fmri),
        format!("name\t{}", s.r.common_name.as_deref().unwrap_or("")),
        format!("enabled\t{}", s.wanted()),
        format!("state\t{}", s.state.name()),
        "next_state\tnone".to_string(),
        format!("state_time\t{}", humantime(s.since)),
        format!("reason\t{}", s.reason),
        format!("logfile\t{}", s.log_path(&r.cfg.logdir).display()),
        format!("manifest\t{}", s.r.file.display()),
    ];
    if let Some(c) = &s.child {
        out.push(format!("pid\t{}", c.pid()));
    }
    // What the start method may hold, what the service's features say
    // (a `features` group: each property turns one on or off, and the
    // daemon keeps only what those that are on need), and what the
    // process holds now, as ppriv shows it.
    if let Some(cred) =
        s.r.method("start")
            .and_then(|m| s.r.method_context(m).credential)
    {
        if let Some(p) = &cred.privileges {
            out.push(format!("privileges\t{p}"));
        }
        if let Some(l) = &cred.limit_privileges {
            out.push(format!("limit\t{l}"));
        }
    }
    for g in s.r.property_groups.iter().filter(|g| g.name == "features") {
        for p in &g.properties {
            // With what it takes, when the manifest says
            // (`feature_privileges`).
            let takes =
                s.r.prop("feature_privileges", &p.name)
                    .map(|t| format!(" (takes {})", t.values.join(" ")))
                    .unwrap_or_default();
            out.push(format!(
                "feature\t{} = {}{takes}",
                p.name,
                p.values.join(" ")
            ));
        }
    }
    if let Some(c) = &s.child {
        let pid = c.pid().to_string();
        if let Ok(text) = privlib::ppriv::show_pid(std::path::Path::new("/proc"), &pid, false) {
            for l in text.lines().filter_map(|l| l.strip_prefix('\t')) {
                if let Some(set) = ["E: ", "I: ", "P: ", "L: "]
                    .iter()
                    .find(|w| l.starts_with(**w))
                {
                    out.push(format!("held\t{set}{}", &l[set.len()..]));
                }
            }
        }
    }
    for d in &s.r.dependencies {
        out.push(format!(
            "dependency\t{}/{} {}",
            d.grouping.as_str(),
            d.restart_on.as_str(),
            d.fmris.join(" ")
        ));
    }
    Ok(out)
}

fn props(r: &Restarter, args: &[String], one: bool) -> Answer {
    let i = instance(r, args.first())?;
    let s = &r.svcs[i];
    let want = args
        .get(1)
        .map(|p| split_prop(p))
        .transpose()
        .map_err(ControlError::Property)?;
    let mut out = Vec::new();
    for g in &s.r.property_groups {
        for p in &g.properties {
            if want.is_none_or(|(wg, wp)| wg == g.name && wp == p.name) {
                out.push(format!(
                    "{}/{}\t{}\t{}",
                    g.name,
                    p.name,
                    p.ty.name(),
                    p.values.join(" ")
                ));
            }
        }
    }
    if one && out.is_empty() {
        return Err(ControlError::NoProperty {
            fmri: s.r.fmri.clone(),
            prop: args.get(1).cloned().unwrap_or_default(),
        });
    }
    Ok(out)
}

pub(super) fn getprop(r: &mut Restarter, args: &[String]) -> Answer {
    props(r, args, true)
}

pub(super) fn listprop(r: &mut Restarter, args: &[String]) -> Answer {
    props(r, args, false)
}

fn set_enabled(r: &mut Restarter, args: &[String], on: bool) -> Answer {
    let i = instance(r, args.first())?;
    let temporary = args.get(1).is_some_and(|t| t == "-t");
    r.set_enabled(i, on, temporary)
        .map_err(ControlError::Instance)?;
    Ok(Vec::new())
}

pub(super) fn enable(r: &mut Restarter, args: &[String]) -> Answer {
    set_enabled(r, args, true)
}

pub(super) fn disable(r: &mut Restarter, args: &[String]) -> Answer {
    set_enabled(r, args, false)
}

pub(super) fn restart(r: &mut Restarter, args: &[String]) -> Answer {
    let i = instance(r, args.first())?;
    if r.svcs[i].stopping.is_some() {
        return Err(ControlError::Stopping(r.svcs[i].r.fmri.clone()));
    }
    if r.svcs[i].child.is_none() || r.svcs[i].state != State::Online {
        return Err(ControlError::NotOnline(r.svcs[i].r.fmri.clone()));
    }
    r.stop(i, true);
    Ok(Vec::new())
}

pub(super) fn refresh(r: &mut Restarter, args: &[String]) -> Answer {
    let i = instance(r, args.first())?;
    r.load();
    r.refresh_method(i);
    Ok(Vec::new())
}

pub(super) fn clear(r: &mut Restarter, args: &[String]) -> Answer {
    let i = instance(r, args.first())?;
    r.clear(i).map_err(ControlError::Instance)?;
    Ok(Vec::new())
}

pub(super) fn setprop(r: &mut Restarter, args: &[String]) -> Answer {
    let i = instance(r, args.first())?;
    let [_, prop, ty, value] = args else {
        return Err(ControlError::Usage(
            "setprop takes FMRI, pg/prop, type and value",
        ));
    };
    let (group, name) = split_prop(prop).map_err(ControlError::Property)?;
    let ty = PropType::from_name(ty).ok_or_else(|| ControlError::NoType(ty.clone()))?;
    if prop == "general/enabled" && ty != PropType::Boolean {
        return Err(ControlError::Usage(
            "general/enabled is a boolean (true or false)",
        ));
    }
    if let Some(old) = r.svcs[i].r.prop(group, name).filter(|p| p.ty != ty) {
        return Err(ControlError::OtherType {
            prop: prop.clone(),
            has: old.ty.name(),
            given: ty.name(),
        });
    }
    let f = r.svcs[i].r.fmri.clone();
    r.overrides
        .set(
            &f,
            prop,
            Override {
                ty,
                value: value.clone(),
            },
        )
        .map_err(ControlError::Overrides)?;
    Ok(Vec::new())
}
