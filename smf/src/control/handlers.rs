//! What each verb does: read or change the restarter, data lines back.

use super::error::ControlError;
use crate::fmri::Fmri;
use crate::manifest::{PropType, RestartOn, split_prop};
use crate::props::Override;
use crate::restarter::{Restarter, State, humantime};

fn instance(r: &Restarter, f: Option<&String>) -> Result<usize, ControlError> {
    let f = f.ok_or(ControlError::Usage("an FMRI is needed"))?;
    r.find(&Fmri::parse(f).map_err(ControlError::Fmri)?)
        .map_err(ControlError::Refused)
}

pub(super) fn list(r: &mut Restarter, _: &[String]) -> Result<Vec<String>, ControlError> {
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

pub(super) fn show(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
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
    for d in &s.r.dependencies {
        out.push(format!(
            "dependency\t{}/{} {}",
            d.grouping.as_str(),
            restart_on(d.restart_on),
            d.fmris.join(" ")
        ));
    }
    Ok(out)
}

pub(super) fn props(
    r: &Restarter,
    args: &[String],
    one: bool,
) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    let s = &r.svcs[i];
    let want = args
        .get(1)
        .map(|p| split_prop(p))
        .transpose()
        .map_err(ControlError::Refused)?;
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
        return Err(ControlError::Refused(format!(
            "{}: no property {}",
            s.r.fmri,
            args.get(1).map_or("", String::as_str)
        )));
    }
    Ok(out)
}

pub(super) fn getprop(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    props(r, args, true)
}

pub(super) fn listprop(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    props(r, args, false)
}

pub(super) fn set_enabled(
    r: &mut Restarter,
    args: &[String],
    on: bool,
) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    let temporary = args.get(1).is_some_and(|t| t == "-t");
    r.set_enabled(i, on, temporary)
        .map_err(ControlError::Refused)?;
    Ok(Vec::new())
}

pub(super) fn enable(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    set_enabled(r, args, true)
}

pub(super) fn disable(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    set_enabled(r, args, false)
}

pub(super) fn restart(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    if r.svcs[i].stopping.is_some() {
        return Err(ControlError::Refused(format!(
            "{} is already stopping",
            r.svcs[i].r.fmri
        )));
    }
    if r.svcs[i].child.is_none() || r.svcs[i].state != State::Online {
        return Err(ControlError::Refused(format!(
            "{} is not online",
            r.svcs[i].r.fmri
        )));
    }
    r.stop(i, true);
    Ok(Vec::new())
}

pub(super) fn refresh(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    instance(r, args.first())?;
    r.load();
    Ok(Vec::new())
}

pub(super) fn clear(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    r.clear(i).map_err(ControlError::Refused)?;
    Ok(Vec::new())
}

pub(super) fn setprop(r: &mut Restarter, args: &[String]) -> Result<Vec<String>, ControlError> {
    let i = instance(r, args.first())?;
    let [_, prop, ty, value] = args else {
        return Err(ControlError::Usage(
            "setprop takes FMRI, pg/prop, type and value",
        ));
    };
    let (group, name) = split_prop(prop).map_err(ControlError::Refused)?;
    let ty = PropType::from_name(ty)
        .ok_or_else(|| ControlError::Refused(format!("no property type \"{ty}\"")))?;
    if prop == "general/enabled" && ty != PropType::Boolean {
        return Err(ControlError::Usage(
            "general/enabled is a boolean (true or false)",
        ));
    }
    if let Some(old) = r.svcs[i].r.prop(group, name).filter(|p| p.ty != ty) {
        return Err(ControlError::Refused(format!(
            "{prop} is of type {}, not {}",
            old.ty.name(),
            ty.name()
        )));
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
        .map_err(ControlError::Refused)?;
    Ok(Vec::new())
}

pub(super) fn restart_on(r: RestartOn) -> &'static str {
    match r {
        RestartOn::None => "none",
        RestartOn::Error => "error",
        RestartOn::Restart => "restart",
        RestartOn::Refresh => "refresh",
    }
}
