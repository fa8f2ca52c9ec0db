//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds them at compile time,
//! and cargo would otherwise not notice a new file.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
