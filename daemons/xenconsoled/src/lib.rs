//! xenconsoled: the console daemon of xvm-lp.
