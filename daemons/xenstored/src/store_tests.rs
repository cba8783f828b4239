//! The tree, its rules and its all-or-nothing batches, through the
//! public methods.

use super::*;

fn store() -> Store {
    Store::new(Quota {
        entry_nb: 10,
        entry_size: 16,
        perm_nb: 3,
    })
}

#[test]
fn write_creates_parents_and_read_returns_the_value() {
    let mut s = store();
    s.write(Caller::Privileged, "/a/b/c", b"v").expect("write");
    assert_eq!(s.read(Caller::Privileged, "/a/b/c"), Ok(&b"v"[..]));
    assert_eq!(s.read(Caller::Privileged, "/a/b"), Ok(&b""[..]));
    assert_eq!(s.directory(Caller::Privileged, "/"), Ok(vec!["a", "tool"]));
    assert_eq!(s.read(Caller::Privileged, "/nope"), Err(XsError::Enoent));
}

#[test]
fn children_stay_sorted_and_rm_takes_the_subtree() {
    let mut s = store();
    for n in ["m", "b", "z", "a"] {
        s.write(Caller::Privileged, &format!("/d/{n}/x"), b"")
            .expect("write");
    }
    assert_eq!(
        s.directory(Caller::Privileged, "/d"),
        Ok(vec!["a", "b", "m", "z"])
    );
    let before = s.len();
    assert_eq!(s.rm(Caller::Privileged, "/d/m"), Ok(true));
    assert_eq!(s.len(), before - 2);
    assert_eq!(
        s.rm(Caller::Privileged, "/d/m"),
        Ok(false),
        "absent, parent present"
    );
    assert_eq!(s.rm(Caller::Privileged, "/nope/x"), Err(XsError::Enoent));
    assert_eq!(s.rm(Caller::Privileged, "/"), Err(XsError::Einval));
    // Freed slots are reused.
    s.write(Caller::Privileged, "/d/n", b"").expect("write");
    assert_eq!(s.len(), before - 1);
}

#[test]
fn domains_meet_permissions_and_own_what_they_create() {
    let mut s = store();
    s.write(Caller::Privileged, "/local/domain/5", b"")
        .expect("write");
    assert_eq!(
        s.write(Caller::Domain(5), "/local/domain/5/x", b"v"),
        Err(XsError::Eacces)
    );
    s.set_perms(
        Caller::Privileged,
        "/local/domain/5",
        Perms::parse(&[b"n5"]).expect("perms"),
    )
    .expect("give");
    s.write(Caller::Domain(5), "/local/domain/5/x", b"v")
        .expect("own home");
    assert_eq!(
        s.get_perms(Caller::Domain(5), "/local/domain/5/x")
            .map(Perms::owner_id),
        Ok(5)
    );
    assert_eq!(
        s.read(Caller::Domain(6), "/local/domain/5/x"),
        Err(XsError::Eacces)
    );
    assert_eq!(s.read(Caller::Domain(5), "/tool"), Err(XsError::Eacces));
    // Only a privileged caller gives a node away.
    let other = Perms::parse(&[b"n6"]).expect("perms");
    assert_eq!(
        s.set_perms(Caller::Domain(5), "/local/domain/5/x", other.clone()),
        Err(XsError::Eperm)
    );
    s.set_perms(Caller::Privileged, "/local/domain/5/x", other)
        .expect("privileged");
}

/// A store with `/h`, owned by domain `d` (which owns 1 node then).
fn store_with_home_of(d: u32) -> Store {
    let mut s = store();
    s.write(Caller::Privileged, "/h", b"").expect("write");
    let owner = format!("n{d}");
    s.set_perms(
        Caller::Privileged,
        "/h",
        Perms::parse(&[owner.as_bytes()]).expect("perms"),
    )
    .expect("perms");
    s
}

#[test]
fn quotas_bound_domains_only() {
    let mut s = store_with_home_of(7);
    assert_eq!(
        s.write(Caller::Domain(7), "/h/big", &[b'x'; 17]),
        Err(XsError::Enospc)
    );
    s.write(Caller::Privileged, "/h/big", &[b'x'; 100])
        .expect("privileged is unbounded");
    let mut n = 0;
    while s.write(Caller::Domain(7), &format!("/h/n{n}"), b"").is_ok() {
        n += 1;
    }
    assert_eq!(s.owned_by(7), 10, "entry quota");
    assert_eq!(
        s.write(Caller::Domain(7), &format!("/h/n{n}"), b""),
        Err(XsError::Enospc)
    );
    let many = Perms::parse(&[b"n7", b"r1", b"r2", b"r3"]).expect("perms");
    assert_eq!(
        s.set_perms(Caller::Domain(7), "/h/n0", many),
        Err(XsError::Enospc)
    );
    s.rm(Caller::Domain(7), "/h/n0").expect("rm");
    assert_eq!(s.owned_by(7), 9, "removal gives quota back");
}

#[test]
fn generations_move_with_every_change() {
    let mut s = store();
    s.write(Caller::Privileged, "/g/x", b"1").expect("write");
    let (g, x) = (s.generation_of("/g"), s.generation_of("/g/x"));
    s.write(Caller::Privileged, "/g/x", b"2").expect("write");
    assert!(s.generation_of("/g/x") > x);
    assert_eq!(s.generation_of("/g"), g, "a value change leaves the parent");
    s.write(Caller::Privileged, "/g/y", b"").expect("write");
    assert!(s.generation_of("/g") > g, "a new child changes the parent");
    assert_eq!(
        s.mkdir(Caller::Privileged, "/g/y").map(|a| a.created),
        Ok(vec![])
    );
}

#[test]
fn a_batch_refused_half_way_leaves_the_tree_as_it_was() {
    let mut s = store();
    s.write(Caller::Privileged, "/h/keep/deep", b"old")
        .expect("write");
    s.write(Caller::Privileged, "/h/p", b"").expect("write");
    s.set_perms(
        Caller::Privileged,
        "/h",
        Perms::parse(&[b"n7"]).expect("perms"),
    )
    .expect("perms");
    for p in ["/h/keep", "/h/keep/deep", "/h/p"] {
        s.set_perms(
            Caller::Privileged,
            p,
            Perms::parse(&[b"n7"]).expect("perms"),
        )
        .expect("perms");
    }
    let before = s
        .walk()
        .into_iter()
        .map(|(p, v, perms)| (p, v.to_vec(), perms.clone()))
        .collect::<Vec<_>>();
    let generations = |s: &Store| {
        s.walk()
            .into_iter()
            .map(|(p, _, _)| s.generation_of(&p))
            .collect::<Vec<_>>()
    };
    let (gens, owned, len) = (generations(&s), s.owned_by(7), s.len());
    let ops = [
        TxOp::Write("/h/new/a".into(), b"1".to_vec()),
        TxOp::Rm("/h/keep".into()),
        TxOp::Write("/h/keep".into(), b"again".to_vec()),
        TxOp::SetPerms("/h/p".into(), Perms::parse(&[b"n7", b"r1"]).expect("perms")),
        TxOp::Write("/h/p".into(), b"changed".to_vec()),
        TxOp::Write("/h/big".into(), vec![b'x'; 17]),
    ];
    assert_eq!(s.apply(Caller::Domain(7), &ops), Err(XsError::Enospc));
    let after = s
        .walk()
        .into_iter()
        .map(|(p, v, perms)| (p, v.to_vec(), perms.clone()))
        .collect::<Vec<_>>();
    assert_eq!(after, before, "values, permissions and shape restored");
    assert_eq!(
        generations(&s),
        gens,
        "generations restored: no false conflicts"
    );
    assert_eq!(
        (s.owned_by(7), s.len()),
        (owned, len),
        "quota and arena restored"
    );
    // Without the refused step, all of it applies.
    let applied = s.apply(Caller::Domain(7), &ops[..5]).expect("apply");
    assert_eq!(applied.len(), 5);
    assert_eq!(
        applied[0].created,
        vec!["/h/new".to_string(), "/h/new/a".to_string()]
    );
    assert!(!s.exists("/h/keep/deep"));
    assert_eq!(s.read(Caller::Domain(7), "/h/keep"), Ok(&b"again"[..]));
    assert_eq!(s.read(Caller::Domain(7), "/h/p"), Ok(&b"changed"[..]));
}

#[test]
fn virt_manage_has_its_own_quota_and_counts_what_it_creates() {
    let mut s = store();
    s.set_manage_quota(Quota {
        entry_nb: 3,
        entry_size: 4,
        perm_nb: 2,
    });
    s.write(Caller::Privileged, "/tool/secret", b"dom0")
        .expect("write");
    assert_eq!(
        s.read(Caller::Manage, "/tool/secret"),
        Ok(&b"dom0"[..]),
        "dom0 for permissions"
    );
    assert_eq!(
        s.write(Caller::Manage, "/m/a", b"12345"),
        Err(XsError::Enospc)
    );
    s.write(Caller::Manage, "/m/a", b"1234").expect("2 nodes");
    s.write(Caller::Manage, "/m/b", b"").expect("3 nodes");
    assert_eq!(s.write(Caller::Manage, "/m/c", b""), Err(XsError::Enospc));
    assert_eq!(s.counted(Caller::Manage), 3);
    assert_eq!(
        s.set_perms(
            Caller::Manage,
            "/m/a",
            Perms::parse(&[b"n0", b"r1", b"r2"]).expect("perms")
        ),
        Err(XsError::Enospc)
    );
    s.rm(Caller::Privileged, "/m/b").expect("rm");
    s.write(Caller::Manage, "/m/c", b"")
        .expect("removal gives quota back");
    s.write(Caller::Privileged, "/p/q/r", &[b'x'; 100])
        .expect("xvm_control is unbounded");
    assert_eq!(s.counted(Caller::Manage), 3);
}

#[test]
fn taking_a_node_counts_against_the_quota() {
    let mut s = store_with_home_of(7);
    for i in 0..9 {
        s.write(Caller::Domain(7), &format!("/h/n{i}"), b"")
            .expect("within quota");
    }
    assert_eq!(s.owned_by(7), 10);
    s.write(Caller::Privileged, "/h/other", b"").expect("write");
    s.set_perms(
        Caller::Privileged,
        "/h/other",
        Perms::parse(&[b"n8", b"b7"]).expect("perms"),
    )
    .expect("perms");
    assert_eq!(
        s.set_perms(
            Caller::Domain(7),
            "/h/other",
            Perms::parse(&[b"n7"]).expect("perms")
        ),
        Err(XsError::Enospc),
        "a full domain takes no node"
    );
}
