//! Relocation's gates in-process, with no domain: who may call the
//! relocation server's methods, the feature switch, the destination's
//! shape, and the answers for jobs and arrivals that do not exist.

use privlib::Policy;

use crate::api::{
    Call, DENIED, DoneParams, ErrorKind, IncomingDoneParams, IncomingParams, JobParams,
    MigrateParams, WaitParams,
};
use crate::domain::test_settings;
use crate::features::Feature;
use crate::manager::Manager;
use crate::scratch::Scratch;
use crate::server::Xend;

fn xend(dir: &Scratch, relocation: bool) -> Xend {
    let mut s = test_settings(dir.path());
    s.features.set(Feature::Relocation, relocation);
    Xend::new(Manager::new(s), Policy::Session(0), "test".into())
}

fn migrate(domain: &str, host: &str) -> Call {
    Call::Migrate(MigrateParams {
        domain: domain.into(),
        host: host.into(),
        live: true,
        resource: None,
    })
}

fn incoming() -> Call {
    Call::RelocIncoming(IncomingParams {
        from: "peer".into(),
        source: "g.cfg".into(),
        config: "name = \"g\"\n".into(),
        uuid: "not-a-uuid".into(),
    })
}

#[test]
fn only_an_xvm_control_peer_may_call_the_relocation_server_s_methods() {
    let dir = Scratch::new("reloc-control");
    let x = xend(&dir, true);
    for call in [
        Call::RelocWait(WaitParams { seconds: Some(0) }),
        Call::RelocSend(JobParams { job: 1 }),
        Call::RelocDone(DoneParams {
            job: 1,
            remote_domid: Some(3),
            error: None,
        }),
        incoming(),
        Call::RelocIncomingDone(IncomingDoneParams {
            domid: 1,
            uuid: "u".into(),
            ok: true,
            resume: true,
        }),
    ] {
        let name = call.method().name();
        assert!(call.control_only(), "{name}");
        let e = x.handle_as(call, false).expect_err(name);
        assert_eq!(e.code, DENIED, "{name}: {e:?}");
        assert_eq!(e.message, format!("{name} needs xvm_control"));
    }
    // xm's own method is virt_manage's, as every domain operation.
    assert!(!migrate("g", "h").control_only());
}

#[test]
fn relocation_is_off_by_default_and_says_how_to_turn_it_on() {
    assert!(!crate::features::Features::default().is_on(Feature::Relocation));
    let dir = Scratch::new("reloc-off");
    let x = xend(&dir, false);
    for call in [
        migrate("g", "h"),
        Call::RelocWait(WaitParams { seconds: Some(0) }),
        incoming(),
    ] {
        let name = call.method().name();
        let e = x.handle(call).expect_err(name);
        assert_eq!(e.kind(), Some(ErrorKind::Disabled), "{name}: {e:?}");
        assert!(
            e.message.contains(
                "svccfg -s svc:/system/xvm/xend:default setprop features/relocation = true"
            ),
            "{name}: {}",
            e.message
        );
    }
}

#[test]
fn a_destination_must_be_a_host_and_the_domain_must_run() {
    let dir = Scratch::new("reloc-host");
    let x = xend(&dir, true);
    for bad in ["", "-oProxy", "a b", "h;rm", "h/x", &"h".repeat(256)] {
        let e = x.handle(migrate("g", bad)).expect_err(bad);
        assert_eq!(e.kind(), Some(ErrorKind::BadConfig), "{bad:?}: {e:?}");
        assert!(e.message.contains("is no host"), "{}", e.message);
    }
    let e = x
        .handle(migrate("g", "h.example:8002"))
        .expect_err("no domain");
    assert_eq!(e.kind(), Some(ErrorKind::NoDomain), "{e:?}");
}

#[test]
fn jobs_and_arrivals_that_do_not_exist_are_refused_and_an_idle_wait_answers_null() {
    let dir = Scratch::new("reloc-none");
    let x = xend(&dir, true);
    let v = x
        .handle(Call::RelocWait(WaitParams { seconds: Some(0) }))
        .expect("a wait");
    assert!(v.is_null(), "{v}");
    let e = x
        .handle(Call::RelocSend(JobParams { job: 7 }))
        .expect_err("send");
    assert_eq!(
        (e.kind(), e.message.as_str()),
        (Some(ErrorKind::NoDomain), "no job 7")
    );
    let e = x
        .handle(Call::RelocDone(DoneParams {
            job: 7,
            remote_domid: None,
            error: Some("x".into()),
        }))
        .expect_err("done");
    assert_eq!(e.kind(), Some(ErrorKind::NoDomain), "{e:?}");
    let e = x
        .handle(Call::RelocIncomingDone(IncomingDoneParams {
            domid: 4,
            uuid: "u".into(),
            ok: true,
            resume: true,
        }))
        .expect_err("incoming-done");
    assert_eq!(e.kind(), Some(ErrorKind::NoDomain), "{e:?}");
    assert!(
        e.message.contains("no domain 4 (u) is arriving"),
        "{}",
        e.message
    );
    // An arrival's UUID is checked before anything is reserved.
    let e = x.handle(incoming()).expect_err("a bad uuid");
    assert_eq!(e.kind(), Some(ErrorKind::BadConfig), "{e:?}");
    assert!(x.lock().busy.is_empty() && x.lock().domains.is_empty());
}
