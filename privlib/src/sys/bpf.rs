//! A small classic-BPF assembler for seccomp filters.
//!
//! The filters privlib installs are deny-lists: a few system calls get an
//! error (or a user-space notification), everything else is allowed. Each
//! rule is a self-contained block, so jump offsets stay within `u8`. The
//! program is plain data: it is built in the parent and only read by a
//! forked child, which must not allocate.

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
const BPF_JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
const BPF_JSET_K: u16 = 0x05 | 0x40; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// `seccomp_data` offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// Low 32 bits of argument 0 (little-endian).
const OFF_ARG0_LO: u32 = 16;
/// Low 32 bits of argument 1 (little-endian): all of an `ioctl` request,
/// which the kernel takes as an `unsigned int`.
const OFF_ARG1_LO: u32 = 24;

/// Seccomp return values.
pub const RET_ALLOW: u32 = 0x7fff_0000;
/// Seccomp: fail the call with `errno` (low 16 bits).
pub const RET_ERRNO: u32 = 0x0005_0000;
/// Seccomp: ask the supervisor holding the listener fd.
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;

/// The audit architecture of this build.
#[cfg(target_arch = "x86_64")]
pub const AUDIT_ARCH: u32 = 0xc000_003e;
/// The audit architecture of this build.
#[cfg(target_arch = "aarch64")]
pub const AUDIT_ARCH: u32 = 0xc000_00b7;

/// x32 system calls carry this bit and the x86_64 audit arch; they must
/// never slip past a filter written for x86_64 numbers.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// What a filter does to a matching system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Fail with this errno.
    Errno(u16),
    /// Hand the call to the supervisor (one-shot exec; see `spawn`).
    Notify,
}

impl Verdict {
    fn ret(self) -> u32 {
        match self {
            Verdict::Errno(e) => RET_ERRNO | u32::from(e),
            Verdict::Notify => RET_USER_NOTIF,
        }
    }
}

/// One rule of a deny-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The call always gets the verdict.
    Always(u32, Verdict),
    /// The call gets the verdict unless argument 0 has any bit of the mask
    /// (`clone` without `CLONE_THREAD`).
    UnlessArg0Bits(u32, u32, Verdict),
    /// The call gets the verdict unless argument 0 (low 32 bits) is one of
    /// the values (`socket(AF_UNIX, ...)`, `personality(0xffffffff)`).
    UnlessArg0In(u32, &'static [u32], Verdict),
    /// The call gets the verdict when argument 1 (low 32 bits) is one of
    /// the values, and is allowed otherwise (`ioctl` requests).
    Arg1In(u32, &'static [u32], Verdict),
}

impl Rule {
    /// Whether the rule uses user-space notification.
    pub fn notifies(&self) -> bool {
        matches!(
            self,
            Rule::Always(_, Verdict::Notify)
                | Rule::UnlessArg0Bits(_, _, Verdict::Notify)
                | Rule::UnlessArg0In(_, _, Verdict::Notify)
                | Rule::Arg1In(_, _, Verdict::Notify)
        )
    }
}

fn stmt(code: u16, k: u32) -> BpfInsn {
    BpfInsn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> BpfInsn {
    BpfInsn { code, jt, jf, k }
}

/// Too many values in one rule for an 8-bit jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("seccomp rule too long for one BPF block")]
pub struct RuleTooLong;

fn block(rule: &Rule) -> Result<Vec<BpfInsn>, RuleTooLong> {
    let allow = stmt(BPF_RET_K, RET_ALLOW);
    Ok(match *rule {
        Rule::Always(_, v) => vec![stmt(BPF_RET_K, v.ret())],
        Rule::UnlessArg0Bits(_, mask, v) => vec![
            stmt(BPF_LD_W_ABS, OFF_ARG0_LO),
            jump(BPF_JSET_K, mask, 0, 1),
            allow,
            stmt(BPF_RET_K, v.ret()),
        ],
        Rule::UnlessArg0In(_, values, v) => {
            let n = u8::try_from(values.len()).map_err(|_| RuleTooLong)?;
            let mut b = vec![stmt(BPF_LD_W_ABS, OFF_ARG0_LO)];
            for (i, val) in values.iter().enumerate() {
                // On a match, jump over the remaining compares to `allow`.
                let left = n - u8::try_from(i).map_err(|_| RuleTooLong)? - 1;
                b.push(jump(BPF_JEQ_K, *val, left + 1, 0));
            }
            b.push(stmt(BPF_RET_K, v.ret()));
            b.push(allow);
            b
        }
        Rule::Arg1In(_, values, v) => {
            let n = u8::try_from(values.len()).map_err(|_| RuleTooLong)?;
            let mut b = vec![stmt(BPF_LD_W_ABS, OFF_ARG1_LO)];
            for (i, val) in values.iter().enumerate() {
                // On a match, jump over the remaining compares and the
                // `allow` to the verdict.
                let left = n - u8::try_from(i).map_err(|_| RuleTooLong)? - 1;
                b.push(jump(BPF_JEQ_K, *val, left + 1, 0));
            }
            b.push(allow);
            b.push(stmt(BPF_RET_K, v.ret()));
            b
        }
    })
}

fn nr(rule: &Rule) -> u32 {
    match *rule {
        Rule::Always(n, _)
        | Rule::UnlessArg0Bits(n, _, _)
        | Rule::UnlessArg0In(n, _, _)
        | Rule::Arg1In(n, _, _) => n,
    }
}

/// Assembles a deny-list filter: foreign architectures and x32 calls get
/// ENOSYS, each rule's call its verdict, everything else is allowed.
pub fn assemble(rules: &[Rule]) -> Result<Vec<BpfInsn>, RuleTooLong> {
    let enosys = stmt(
        BPF_RET_K,
        RET_ERRNO | u32::from(u16::try_from(libc::ENOSYS).unwrap_or(38)),
    );
    let mut prog = vec![
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jump(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
        enosys,
        stmt(BPF_LD_W_ABS, OFF_NR),
        jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1),
        enosys,
    ];
    for rule in rules {
        let b = block(rule)?;
        let skip = u8::try_from(b.len()).map_err(|_| RuleTooLong)?;
        prog.push(jump(BPF_JEQ_K, nr(rule), 0, skip));
        prog.extend(b);
        // Blocks may load argument 0; reload the number for the next rule.
        prog.push(stmt(BPF_LD_W_ABS, OFF_NR));
    }
    prog.push(stmt(BPF_RET_K, RET_ALLOW));
    Ok(prog)
}

/// Runs a program over a `seccomp_data` the way the kernel would: used by
/// the unit tests to check verdicts without installing anything.
pub fn simulate(prog: &[BpfInsn], arch: u32, nr: u32, arg0: u64) -> u32 {
    simulate_args(prog, arch, nr, [arg0, 0])
}

/// [`simulate`] with the first two arguments.
pub fn simulate_args(prog: &[BpfInsn], arch: u32, nr: u32, args: [u64; 2]) -> u32 {
    let load = |off: u32| -> u32 {
        match off {
            OFF_NR => nr,
            OFF_ARCH => arch,
            #[allow(clippy::cast_possible_truncation)]
            OFF_ARG0_LO => args[0] as u32,
            #[allow(clippy::cast_possible_truncation)]
            OFF_ARG1_LO => args[1] as u32,
            _ => 0,
        }
    };
    let (mut pc, mut acc) = (0usize, 0u32);
    while let Some(i) = prog.get(pc) {
        pc += 1;
        match i.code {
            BPF_LD_W_ABS => acc = load(i.k),
            BPF_RET_K => return i.k,
            BPF_JEQ_K | BPF_JGE_K | BPF_JSET_K => {
                let hit = match i.code {
                    BPF_JEQ_K => acc == i.k,
                    BPF_JGE_K => acc >= i.k,
                    _ => acc & i.k != 0,
                };
                pc += usize::from(if hit { i.jt } else { i.jf });
            }
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<Rule> {
        vec![
            Rule::Always(57, Verdict::Errno(1)),
            Rule::UnlessArg0Bits(56, 0x0001_0000, Verdict::Errno(1)),
            Rule::UnlessArg0In(41, &[1], Verdict::Errno(13)),
            Rule::UnlessArg0In(135, &[0xffff_ffff, 0], Verdict::Errno(1)),
            Rule::Always(59, Verdict::Notify),
            Rule::Arg1In(16, &[0x4004_54cb, 0x4004_54ca], Verdict::Errno(1)),
        ]
    }

    #[test]
    fn a_seccomp_arg1_rule_denies_only_its_values_in_the_low_32_bits() {
        let p = assemble(&rules()).expect("assembles");
        let a = AUDIT_ARCH;
        for req in [0x4004_54cb, 0x4004_54ca, 0xffff_ffff_4004_54cb] {
            assert_eq!(
                simulate_args(&p, a, 16, [3, req]),
                RET_ERRNO | 1,
                "{req:#x}"
            );
        }
        for req in [0x8004_54d2, 0x4004_54cc, 0, 0x4004_54cb_0000_0000] {
            assert_eq!(simulate_args(&p, a, 16, [3, req]), RET_ALLOW, "{req:#x}");
        }
        // Argument 0 is not what it looks at, nor do other calls get it.
        assert_eq!(simulate_args(&p, a, 16, [0x4004_54cb, 0]), RET_ALLOW);
        assert_eq!(simulate_args(&p, a, 17, [3, 0x4004_54cb]), RET_ALLOW);
        // The rules before it still see their own argument.
        assert_eq!(simulate_args(&p, a, 41, [2, 0]), RET_ERRNO | 13);
    }

    #[test]
    fn verdicts_follow_the_rules() {
        let p = assemble(&rules()).expect("assembles");
        let a = AUDIT_ARCH;
        assert_eq!(simulate(&p, a, 57, 0), RET_ERRNO | 1);
        assert_eq!(
            simulate(&p, a, 56, 0x11),
            RET_ERRNO | 1,
            "clone for a process"
        );
        assert_eq!(
            simulate(&p, a, 56, 0x0001_0f00),
            RET_ALLOW,
            "clone for a thread"
        );
        assert_eq!(simulate(&p, a, 41, 1), RET_ALLOW, "AF_UNIX");
        assert_eq!(simulate(&p, a, 41, 2), RET_ERRNO | 13, "AF_INET");
        assert_eq!(simulate(&p, a, 135, 0xffff_ffff), RET_ALLOW);
        assert_eq!(simulate(&p, a, 135, 0), RET_ALLOW);
        assert_eq!(simulate(&p, a, 135, 0x0040_0000), RET_ERRNO | 1);
        assert_eq!(simulate(&p, a, 59, 0), RET_USER_NOTIF);
        assert_eq!(simulate(&p, a, 0, 0), RET_ALLOW, "read is untouched");
        assert_eq!(
            simulate(&p, a, 57 | X32_SYSCALL_BIT, 0),
            RET_ERRNO | 38,
            "x32"
        );
        assert_eq!(simulate(&p, 0x4000_0003, 2, 0), RET_ERRNO | 38, "i386");
    }
}
