//! Placeholder: filled in by its owner (see /tmp/contract.md).
