//! Errors of applying ops.

use thiserror::Error;

use crate::ids::{OpId, TenantId};

/// Why an op was not applied.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// The op belongs to another tenant network: applying it would leak state across tenants.
    #[error("op {op:?} of tenant {op_tenant} offered to the state of tenant {state_tenant}")]
    WrongTenant {
        /// The op's id.
        op: OpId,
        /// The tenant the op belongs to.
        op_tenant: TenantId,
        /// The tenant of the state it was offered to.
        state_tenant: TenantId,
    },
}
