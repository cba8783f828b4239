//! `xenconsoled`: guest consoles (being built).

fn main() {
    eprintln!("xenconsoled: not built yet");
    std::process::exit(1);
}
