//! The part of the store interface that serves agents and queues.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{
    AccountId, Actor,
    agent::{Agent, Presence, Queue},
    ids::{AgentId, QueueId},
};

#[async_trait::async_trait]
pub trait AgentStore: Send + Sync + 'static {
    /// Stores a new agent with its queue memberships (the queues must be the account's).
    async fn insert_agent(&self, agent: &Agent, actor: &Actor) -> Result<(), StoreError>;
    async fn list_agents(&self, account: &AccountId) -> Result<Vec<Agent>, StoreError>;
    /// The names of the skills the account's agents hold (at any level).
    async fn held_skills(
        &self,
        account: &AccountId,
    ) -> Result<std::collections::BTreeSet<String>, StoreError>;
    async fn get_agent(
        &self,
        account: &AccountId,
        id: &AgentId,
    ) -> Result<Option<Agent>, StoreError>;
    /// Saves an agent's fields and memberships; false if it does not exist (or was deleted).
    async fn update_agent(&self, agent: &Agent, actor: &Actor) -> Result<bool, StoreError>;
    /// Deletes an agent (it leaves its queues); false if it does not exist.
    async fn delete_agent(
        &self,
        account: &AccountId,
        id: &AgentId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
    async fn set_presence(
        &self,
        account: &AccountId,
        id: &AgentId,
        presence: Presence,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Option<Agent>, StoreError>;

    async fn insert_queue(&self, queue: &Queue, actor: &Actor) -> Result<(), StoreError>;
    async fn list_queues(&self, account: &AccountId) -> Result<Vec<Queue>, StoreError>;
    async fn get_queue(
        &self,
        account: &AccountId,
        id: &QueueId,
    ) -> Result<Option<Queue>, StoreError>;
    async fn update_queue(&self, queue: &Queue, actor: &Actor) -> Result<bool, StoreError>;
    async fn delete_queue(
        &self,
        account: &AccountId,
        id: &QueueId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
}
