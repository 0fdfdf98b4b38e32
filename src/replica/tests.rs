//! The replica core in virtual time: no sockets, no sleeps.
