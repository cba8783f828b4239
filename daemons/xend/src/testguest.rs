//! The test guest: a 512-byte boot sector (on a 1 MiB raw disk) that
//! prints [`BANNER`] on COM1, then echoes what it reads. It proves the
//! whole path xend -> unprivileged qemu -> serial socket -> user, and is
//! the example domain `scripts/start` runs.

/// What the test guest prints first.
pub const BANNER: &[u8] = b"XVM-LP TEST GUEST UP\r\n";

/// A boot sector that writes BANNER to COM1, then echoes what it reads.
pub fn image() -> Vec<u8> {
    let mut code: Vec<u8> = vec![
        0xFA, // cli
        0x31, 0xC0, // xor ax,ax
        0x8E, 0xD8, // mov ds,ax
        0xBE, 0x22, 0x7C, // mov si,0x7c22 (the message)
        0xAC, // lodsb
        0x84, 0xC0, // test al,al
        0x74, 0x06, // jz echo
        0xBA, 0xF8, 0x03, // mov dx,0x3f8
        0xEE, // out dx,al
        0xEB, 0xF5, // jmp lodsb
        0xBA, 0xFD, 0x03, // echo: mov dx,0x3fd (line status)
        0xEC, // in al,dx
        0xA8, 0x01, // test al,1 (data ready)
        0x74, 0xF8, // jz echo
        0xBA, 0xF8, 0x03, // mov dx,0x3f8
        0xEC, // in al,dx
        0xEE, // out dx,al
        0xEB, 0xF1, // jmp echo
    ];
    debug_assert_eq!(code.len(), 0x22);
    code.extend_from_slice(BANNER);
    code.push(0);
    code.resize(510, 0);
    code.extend_from_slice(&[0x55, 0xAA]);
    code.resize(1 << 20, 0);
    code
}
