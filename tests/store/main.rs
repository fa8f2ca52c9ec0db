//! The store conformance suite: every test runs against SQLite and against PostgreSQL through
//! the `Store` trait alone, with the time passed in (no test sleeps), so the two backends are
//! held to one contract.
//!
//! PostgreSQL is found at `RINGBACK_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); without it the PostgreSQL half fails saying so.

use std::{sync::Arc, time::Duration};

use jiff::{SignedDuration, Timestamp};
use ringback::{
    config::DatabaseConfig,
    domain::{
        AccountId, Actor, Callback, CallbackId, DialingMode, Origin, Outcome, PhoneNumber, Status,
        agent::{Agent, Presence},
        campaign::RecallPolicy,
        dialing::ZoneSource,
        ids::AgentId,
        routing::RoutingSettings,
        time::Zone,
    },
    store::{
        Backend, ClaimBatch, DispatchReport, DispatchResult, IdempotentResponse, InsertOutcome,
        OutcomeReport, Store, dnc::DncEntry, routing::OfferAnswer,
    },
};

#[path = "../api/database.rs"]
mod database;

/// The backend `database::TestDatabase::create` would use; this suite names it per test.
pub const BACKEND: Backend = Backend::Sqlite;

/// A store on a fresh database, with one account.
struct Fixture {
    store: Arc<dyn Store>,
    account: AccountId,
    _db: database::TestDatabase,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = database::TestDatabase::create_for(backend, dir.path()).await;
        let mut config = DatabaseConfig::new(db.url.clone());
        config.secret_key_file = db.key_file.clone();
        let store = ringback::store::open(&config)
            .await
            .unwrap_or_else(|e| panic!("opening {backend:?} store: {e}"));
        let account = Self::account(&store).await;
        Self {
            store,
            account,
            _db: db,
            _dir: dir,
        }
    }

    async fn account(store: &Arc<dyn Store>) -> AccountId {
        let (account, _) = ringback::admin::create_account(store.as_ref(), "Acme", noon())
            .await
            .unwrap();
        account.id
    }

    /// A progressive callback to `phone`, due at `due`, judged in UTC.
    fn callback(&self, phone: &str, due: Timestamp) -> Callback {
        callback_for(&self.account, phone, due)
    }

    async fn insert(&self, phone: &str, due: Timestamp) -> Callback {
        let cb = self.callback(phone, due);
        let outcome = self
            .store
            .insert_callback(&cb, false, None, &Actor::System)
            .await
            .unwrap();
        assert!(matches!(outcome, InsertOutcome::Inserted), "{outcome:?}");
        cb
    }

    /// Claims what is due at `at` (no claiming ahead) for `owner`.
    async fn claim(&self, at: Timestamp, limit: u32, owner: &str) -> ClaimBatch {
        self.store
            .claim_due(at, at, limit, owner, LEASE)
            .await
            .unwrap()
    }

    /// Claims what is due up to `ahead` after `at`.
    async fn claim_ahead(&self, at: Timestamp, ahead: SignedDuration, owner: &str) -> ClaimBatch {
        self.store
            .claim_due(at, at + ahead, 100, owner, LEASE)
            .await
            .unwrap()
    }

    async fn status(&self, id: &CallbackId) -> Status {
        self.store
            .get_callback(&self.account, id)
            .await
            .unwrap()
            .expect("the callback exists")
            .status
    }

    /// How many times the callback's row was written (1 when inserted).
    async fn version(&self, id: &CallbackId) -> u64 {
        self.store
            .get_callback(&self.account, id)
            .await
            .unwrap()
            .expect("the callback exists")
            .version
    }
}

fn callback_for(account: &AccountId, phone: &str, due: Timestamp) -> Callback {
    Callback {
        id: CallbackId::generate(),
        account_id: account.clone(),
        origin: Origin::Api,
        status: Status::Scheduled,
        phone: PhoneNumber::parse(phone, "phone").unwrap(),
        contact_name: None,
        scheduled_at: due,
        timezone: Zone::utc(),
        timezone_source: ZoneSource::Request,
        region: None,
        due_at: due,
        expires_at: Callback::deadline(due, 60),
        attempt: 0,
        attempt_open: false,
        assignment: None,
        fallback: None,
        caller_id: None,
        dialing_mode: DialingMode::Unattended,
        notes: None,
        metadata: None,
        interaction_id: None,
        reminder_minutes_before: None,
        expire_after_minutes: 60,
        max_duration_seconds: 900,
        recording_enabled: true,
        initial_message: None,
        webhook_url: None,
        outcome: None,
        disposition: None,
        caller_id_pool: None,
        agent_id: None,
        offer_expires_at: None,
        campaign_id: None,
        contact_id: None,
        recall: RecallPolicy::default(),
        calling_window: None,
        trunk_id: None,
        ring_timeout_seconds: None,
        amd: Default::default(),
        priority: 50,
        skills: Default::default(),
        queued_since: None,
        created_at: noon() - SignedDuration::from_mins(10),
        updated_at: noon() - SignedDuration::from_mins(10),
        created_by: None,
        version: 1,
    }
}

/// A weekday noon, inside any calling window, far from DST changes.
fn noon() -> Timestamp {
    "2030-06-04T12:00:00Z".parse().unwrap()
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

const LEASE: Duration = Duration::from_secs(30);

/// The bridge's acceptance of the first claim of attempt `attempt`.
fn accepted(cb: &Callback, attempt: u32, at: Timestamp) -> DispatchReport {
    accepted_claim(cb, attempt, 1, at)
}

fn accepted_claim(cb: &Callback, attempt: u32, claim: u32, at: Timestamp) -> DispatchReport {
    DispatchReport {
        callback_id: cb.id.clone(),
        attempt,
        claim,
        at,
        bridge_status: Some(200),
        result: DispatchResult::Accepted,
        provider_call_id: None,
    }
}

/// Each test once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Fixture::new(ringback::store::Backend::Sqlite).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Fixture::new(ringback::store::Backend::Postgres).await).await
            })*
        }
    };
}

conformance!(
    a_due_callback_is_claimed_once_and_what_is_not_due_is_left,
    a_claim_whose_lease_ran_out_is_taken_over_and_an_extended_one_is_not,
    a_released_claim_is_claimed_again_at_once,
    an_unanswered_request_makes_the_next_claim_a_resend,
    a_claim_lost_before_its_time_was_not_sent_and_is_not_counted,
    an_accepted_dispatch_starts_the_call_and_an_outcome_ends_it,
    the_guard_skips_a_number_on_the_do_not_call_list,
    an_idempotency_key_replays_and_a_second_active_callback_to_a_number_is_refused,
    no_account_reads_another_accounts_callbacks,
    the_history_is_in_commit_order,
    the_next_wakeup_is_the_earliest_due_time_or_lease_end,
    a_free_agent_is_offered_one_callback_at_a_time_and_a_rejected_one_goes_to_the_next,
);

async fn a_due_callback_is_claimed_once_and_what_is_not_due_is_left(f: Fixture) {
    let due = f.insert("+14155550101", noon()).await;
    let later = f.insert("+14155550102", noon() + secs(60)).await;
    let batch = f.claim(noon(), 100, "a").await;
    let ids: Vec<&CallbackId> = batch.dispatch.iter().map(|c| &c.callback.id).collect();
    assert_eq!(ids, [&due.id]);
    let claimed = &batch.dispatch[0];
    assert_eq!(claimed.callback.status, Status::Dispatching);
    assert_eq!(claimed.callback.attempt, 1);
    assert!(!claimed.resend);
    assert_eq!(
        claimed.bridge_requests, 1,
        "the request about to go is the first"
    );
    assert_eq!(batch.taken_over, 0);

    // A second claimer at the same instant finds nothing: the claim is held.
    let again = f.claim(noon(), 100, "b").await;
    assert!(again.dispatch.is_empty(), "{:?}", again.dispatch);
    assert_eq!(f.status(&later.id).await, Status::Scheduled);

    // The attempt row is committed with the claim; its request counts once it was sent.
    let attempts = f
        .store
        .callback_attempts(&f.account, &due.id)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].bridge_requests, 0);
    assert_eq!(attempts[0].started_at, noon());
}

async fn a_claim_whose_lease_ran_out_is_taken_over_and_an_extended_one_is_not(f: Fixture) {
    let held = f.insert("+14155550111", noon()).await;
    let kept = f.insert("+14155550112", noon()).await;
    let batch = f.claim(noon(), 1, "a").await;
    assert_eq!(batch.dispatch.len(), 1);
    let first = batch.dispatch[0].callback.id.clone();
    let batch = f.claim(noon(), 1, "b").await;
    assert_eq!(batch.dispatch.len(), 1);
    let second = batch.dispatch[0].callback.id.clone();
    assert_ne!(first, second);
    let (a_holds, b_holds) = (first, second);
    assert!([&held.id, &kept.id].contains(&&a_holds));

    // "a" may have sent its request: its send horizon reaches the request's time.
    f.store
        .extend_send_horizon("a", noon() + secs(1))
        .await
        .unwrap();
    // "b" extends its claim; "a" does not. Just before the lease ends, nothing is taken over.
    let extended = f
        .store
        .extend_leases("b", noon() + secs(31), noon() + secs(50))
        .await
        .unwrap();
    assert_eq!(extended, 1);
    // The lease is the call's: the callback was written once, by the claim.
    assert_eq!(f.version(&b_holds).await, 2);
    let just_before = noon() + secs(29);
    let batch = f.claim(just_before, 100, "c").await;
    assert!(
        batch.dispatch.is_empty(),
        "taken over before the lease ran out"
    );

    // Once it has run out, "a"'s claim goes to "c", the same attempt; "b"'s stays.
    let after = noon() + secs(31);
    let batch = f.claim(after, 100, "c").await;
    assert_eq!(batch.taken_over, 1);
    let ids: Vec<&CallbackId> = batch.dispatch.iter().map(|c| &c.callback.id).collect();
    assert_eq!(ids, [&a_holds]);
    assert_eq!(batch.dispatch[0].callback.attempt, 1, "the same attempt");
    assert!(batch.dispatch[0].resend, "a's request may have gone out");
    assert_eq!(f.status(&b_holds).await, Status::Dispatching);
    let attempts = f
        .store
        .callback_attempts(&f.account, &a_holds)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "a takeover is no new attempt");
}

async fn a_released_claim_is_claimed_again_at_once(f: Fixture) {
    let cb = f.insert("+14155550121", noon()).await;
    let batch = f.claim(noon(), 10, "a").await;
    assert_eq!(batch.dispatch.len(), 1);
    assert_eq!(f.store.release_claims("a", noon()).await.unwrap(), 1);
    assert_eq!(f.status(&cb.id).await, Status::Scheduled);
    let batch = f.claim(noon(), 10, "b").await;
    assert_eq!(batch.dispatch.len(), 1);
    assert_eq!(
        batch.dispatch[0].callback.attempt, 1,
        "the open attempt goes on"
    );
    assert_eq!(batch.taken_over, 0);
}

async fn an_unanswered_request_makes_the_next_claim_a_resend(f: Fixture) {
    let cb = f.insert("+14155550131", noon()).await;
    let batch = f.claim(noon(), 10, "a").await;
    assert_eq!(batch.dispatch.len(), 1);
    assert!(!batch.dispatch[0].resend);
    f.store.extend_send_horizon("a", noon()).await.unwrap();

    // "a" dies after sending, without an answer: the request counts as sent, and the next
    // claim of the attempt is a resend.
    let after = noon() + secs(31);
    let batch = f.claim(after, 10, "b").await;
    assert_eq!(batch.taken_over, 1);
    assert!(batch.dispatch[0].resend);
    assert_eq!(batch.dispatch[0].bridge_requests, 2);
    assert_eq!(batch.dispatch[0].claim, 2);
    let attempts = f.store.callback_attempts(&f.account, &cb.id).await.unwrap();
    assert_eq!((attempts[0].bridge_requests, attempts[0].resends), (1, 0));
    // "a"'s answer arriving late is not counted again, nor taken for "b"'s.
    f.store
        .record_dispatches(&[accepted_claim(&cb, 1, 1, after)])
        .await
        .unwrap();
    let attempts = f.store.callback_attempts(&f.account, &cb.id).await.unwrap();
    assert_eq!((attempts[0].bridge_requests, attempts[0].resends), (1, 0));
    f.store
        .record_dispatches(&[accepted_claim(&cb, 1, 2, after)])
        .await
        .unwrap();
    let attempts = f.store.callback_attempts(&f.account, &cb.id).await.unwrap();
    assert_eq!((attempts[0].bridge_requests, attempts[0].resends), (2, 1));
    assert_eq!(attempts[0].last_bridge_status, Some(200));
    assert_eq!(f.status(&cb.id).await, Status::InProgress);
}

async fn a_claim_lost_before_its_time_was_not_sent_and_is_not_counted(f: Fixture) {
    let cb = f.insert("+14155550132", noon() + secs(5)).await;
    // Claimed five seconds ahead; "a" committed a horizon short of the request's time, so it
    // cannot have sent it.
    let batch = f.claim_ahead(noon(), secs(5), "a").await;
    assert_eq!(batch.dispatch.len(), 1);
    f.store
        .extend_send_horizon("a", noon() + secs(4))
        .await
        .unwrap();
    let batch = f.claim(noon() + secs(31), 10, "b").await;
    assert_eq!(batch.taken_over, 1);
    assert!(!batch.dispatch[0].resend, "a never sent its request");
    assert_eq!(batch.dispatch[0].bridge_requests, 1);
    f.store
        .record_dispatches(&[accepted_claim(&cb, 1, 2, noon() + secs(31))])
        .await
        .unwrap();
    let attempts = f.store.callback_attempts(&f.account, &cb.id).await.unwrap();
    assert_eq!((attempts[0].bridge_requests, attempts[0].resends), (1, 0));
}

async fn an_accepted_dispatch_starts_the_call_and_an_outcome_ends_it(f: Fixture) {
    let cb = f.insert("+14155550141", noon()).await;
    f.claim(noon(), 10, "a").await;
    assert_eq!(f.status(&cb.id).await, Status::Dispatching);
    f.store
        .record_dispatches(&[accepted(&cb, 1, noon() + secs(1))])
        .await
        .unwrap();
    assert_eq!(f.status(&cb.id).await, Status::InProgress);
    // The callback's row changes when the call starts (the claim) and when it ends: the
    // bridge's acceptance is written to the call only.
    assert_eq!(f.version(&cb.id).await, 2);
    // A call in progress is no claim: nothing takes it over once its lease would have ended,
    // and it is not handed back when its node stops.
    let later = noon() + secs(45);
    assert!(f.claim(later, 10, "b").await.dispatch.is_empty());
    f.store.release_claims("a", later).await.unwrap();
    assert_eq!(f.status(&cb.id).await, Status::InProgress);
    // A second copy of the same answer changes nothing.
    f.store
        .record_dispatches(&[accepted(&cb, 1, noon() + secs(2))])
        .await
        .unwrap();
    let ended = f
        .store
        .record_outcome(
            &f.account,
            &cb.id,
            &OutcomeReport {
                outcome: Outcome::Answered,
                duration_seconds: Some(42),
                notes: None,
                sip_code: None,
                sip_reason: None,
                recording: None,
                answered_by: None,
                disposition: None,
            },
            noon() + secs(60),
            &Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(ended.status, Status::Completed);
    assert_eq!(f.version(&cb.id).await, 3);
    let attempts = f.store.callback_attempts(&f.account, &cb.id).await.unwrap();
    assert_eq!(attempts[0].outcome, Some(Outcome::Answered));
    assert_eq!(attempts[0].duration_seconds, Some(42));
    assert_eq!(attempts[0].accepted_at, Some(noon() + secs(1)));
    // Nothing is left to claim.
    let batch = f
        .store
        .claim_due(noon() + secs(120), noon() + secs(120), 10, "a", LEASE)
        .await
        .unwrap();
    assert!(batch.dispatch.is_empty());
}

async fn the_guard_skips_a_number_on_the_do_not_call_list(f: Fixture) {
    let phone = PhoneNumber::parse("+14155550151", "phone").unwrap();
    f.store
        .add_to_dnc(
            &[DncEntry {
                account_id: f.account.clone(),
                phone: phone.clone(),
                source: Some("test".to_owned()),
                reason: None,
                created_at: noon() - secs(1),
            }],
            &Actor::System,
        )
        .await
        .unwrap();
    assert!(f.store.is_on_dnc(&f.account, &phone).await.unwrap());
    // Written after the number was listed (the store does not judge new callbacks; the
    // create path does): the guard at claim time is the last line.
    let blocked = f.insert("+14155550151", noon()).await;
    let free = f.insert("+14155550152", noon()).await;
    let batch = f.claim(noon(), 10, "a").await;
    let ids: Vec<&CallbackId> = batch.dispatch.iter().map(|c| &c.callback.id).collect();
    assert_eq!(ids, [&free.id]);
    let skipped = f
        .store
        .get_callback(&f.account, &blocked.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(skipped.status, Status::Canceled);
    assert_eq!(skipped.outcome, Some(Outcome::SkippedDnc));
    let attempts = f
        .store
        .callback_attempts(&f.account, &blocked.id)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].bridge_requests, 0, "never sent");
    assert_eq!(attempts[0].outcome, Some(Outcome::SkippedDnc));
}

async fn an_idempotency_key_replays_and_a_second_active_callback_to_a_number_is_refused(
    f: Fixture,
) {
    let first = f.callback("+14155550161", noon() + secs(600));
    let response = IdempotentResponse {
        key: "key-1".to_owned(),
        request_hash: "hash".to_owned(),
        status: 201,
        body: "{}".to_owned(),
    };
    let outcome = f
        .store
        .insert_callback(&first, false, Some(&response), &Actor::System)
        .await
        .unwrap();
    assert!(matches!(outcome, InsertOutcome::Inserted), "{outcome:?}");
    let found = f
        .store
        .find_idempotent_response(&f.account, "key-1")
        .await
        .unwrap()
        .expect("the answer is kept");
    assert_eq!((found.status, found.request_hash.as_str()), (201, "hash"));

    // The same key again: the first answer, and no second callback.
    let retry = f.callback("+14155550161", noon() + secs(600));
    let outcome = f
        .store
        .insert_callback(&retry, false, Some(&response), &Actor::System)
        .await
        .unwrap();
    assert!(matches!(outcome, InsertOutcome::Replayed(_)), "{outcome:?}");
    assert!(
        f.store
            .get_callback(&f.account, &retry.id)
            .await
            .unwrap()
            .is_none()
    );

    // Another key, the same number: refused while the first is active, unless allowed.
    let second = f.callback("+14155550161", noon() + secs(900));
    match f
        .store
        .insert_callback(&second, false, None, &Actor::System)
        .await
        .unwrap()
    {
        InsertOutcome::Duplicate { existing_id } => assert_eq!(existing_id, first.id),
        other => panic!("{other:?}"),
    }
    let outcome = f
        .store
        .insert_callback(&second, true, None, &Actor::System)
        .await
        .unwrap();
    assert!(matches!(outcome, InsertOutcome::Inserted), "{outcome:?}");
}

async fn no_account_reads_another_accounts_callbacks(f: Fixture) {
    let other = Fixture::account(&f.store).await;
    let mine = f.insert("+14155550171", noon() + secs(600)).await;
    let theirs = callback_for(&other, "+14155550171", noon() + secs(600));
    f.store
        .insert_callback(&theirs, false, None, &Actor::System)
        .await
        .unwrap();
    assert!(
        f.store
            .get_callback(&other, &mine.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .callback_history(&other, &mine.id)
            .await
            .unwrap()
            .is_empty()
    );
    let canceled = f
        .store
        .cancel_callback(&other, &mine.id, noon(), &Actor::System)
        .await;
    assert!(canceled.is_err(), "another account canceled it");
    assert_eq!(f.status(&mine.id).await, Status::Scheduled);
    assert_eq!(
        f.store
            .get_callback(&other, &theirs.id)
            .await
            .unwrap()
            .map(|cb| cb.account_id),
        Some(other)
    );
}

async fn the_history_is_in_commit_order(f: Fixture) {
    let cb = f.insert("+14155550181", noon()).await;
    f.claim(noon(), 10, "a").await;
    f.store
        .record_dispatches(&[accepted(&cb, 1, noon() + secs(1))])
        .await
        .unwrap();
    f.store
        .record_outcome(
            &f.account,
            &cb.id,
            &OutcomeReport {
                outcome: Outcome::Answered,
                duration_seconds: Some(5),
                notes: None,
                sip_code: None,
                sip_reason: None,
                recording: None,
                answered_by: None,
                disposition: None,
            },
            noon() + secs(10),
            &Actor::System,
        )
        .await
        .unwrap();
    let history = f.store.callback_history(&f.account, &cb.id).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "callback.created",
            "callback.due",
            "callback.started",
            "callback.completed"
        ],
        "{history:?}"
    );
    let ids: Vec<&str> = history.iter().map(|e| e.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "event ids follow commit order");
}

async fn the_next_wakeup_is_the_earliest_due_time_or_lease_end(f: Fixture) {
    assert_eq!(f.store.next_wakeup().await.unwrap(), None);
    f.insert("+14155550191", noon() + secs(120)).await;
    f.insert("+14155550192", noon() + secs(60)).await;
    assert_eq!(
        f.store.next_wakeup().await.unwrap(),
        Some(noon() + secs(60))
    );
    // Claimed, the earlier one wakes the claimers when its lease could run out.
    let lookahead = noon() + secs(60);
    f.store
        .claim_due(noon(), lookahead, 1, "a", LEASE)
        .await
        .unwrap();
    assert_eq!(
        f.store.next_wakeup().await.unwrap(),
        Some(noon() + secs(30)),
        "the lease taken at noon ends first"
    );
}

async fn agent(f: &Fixture, name: &str) -> AgentId {
    let agent = Agent {
        id: AgentId::generate(),
        account_id: f.account.clone(),
        name: name.to_owned(),
        external_id: None,
        sip_uri: None,
        queue_ids: Vec::new(),
        concurrency: 1,
        timezone: Zone::utc(),
        working_hours: None,
        skills: Default::default(),
        presence: Presence::Offline,
        presence_changed_at: noon() - secs(600),
        created_at: noon() - secs(600),
        updated_at: noon() - secs(600),
    };
    f.store.insert_agent(&agent, &Actor::System).await.unwrap();
    agent.id
}

async fn a_free_agent_is_offered_one_callback_at_a_time_and_a_rejected_one_goes_to_the_next(
    f: Fixture,
) {
    let settings = RoutingSettings::default();
    let ann = agent(&f, "Ann").await;
    let bob = agent(&f, "Bob").await;
    let mut first = f.callback("+14155550201", noon());
    first.dialing_mode = DialingMode::Preview;
    let mut second = f.callback("+14155550202", noon() + secs(1));
    second.dialing_mode = DialingMode::Preview;
    for cb in [&first, &second] {
        f.store
            .insert_callback(cb, false, None, &Actor::System)
            .await
            .unwrap();
    }
    // Preview callbacks are never claimed for the bridge.
    let batch = f
        .store
        .claim_due(noon() + secs(5), noon() + secs(5), 10, "a", LEASE)
        .await
        .unwrap();
    assert!(batch.dispatch.is_empty());

    // Only Ann is available: she is offered the earliest, and nothing more (concurrency 1).
    f.store
        .set_presence(
            &f.account,
            &ann,
            Presence::Available,
            noon() - secs(60),
            &Actor::System,
        )
        .await
        .unwrap()
        .unwrap();
    let now = noon() + secs(5);
    let pass = f.store.route(now, &settings, 100).await.unwrap();
    assert_eq!(pass.queued, 2);
    let offers: Vec<(&CallbackId, &AgentId)> = pass
        .offers
        .iter()
        .map(|o| (&o.callback_id, &o.agent_id))
        .collect();
    assert_eq!(offers, [(&first.id, &ann)]);
    assert_eq!(f.status(&first.id).await, Status::Offered);
    let pass = f.store.route(now + secs(1), &settings, 100).await.unwrap();
    assert!(pass.offers.is_empty(), "{:?}", pass.offers);

    // Ann rejects; Bob comes in: the first goes to Bob, Ann gets the second.
    let rejected = f
        .store
        .answer_offer(
            &f.account,
            &ann,
            &first.id,
            OfferAnswer::Reject {
                reoffer_after: Duration::from_secs(60),
            },
            now + secs(2),
            &Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(rejected.status, Status::Waiting);
    f.store
        .set_presence(
            &f.account,
            &bob,
            Presence::Available,
            now + secs(2),
            &Actor::System,
        )
        .await
        .unwrap()
        .unwrap();
    let pass = f.store.route(now + secs(3), &settings, 100).await.unwrap();
    let mut offers: Vec<(CallbackId, AgentId)> = pass
        .offers
        .into_iter()
        .map(|o| (o.callback_id, o.agent_id))
        .collect();
    offers.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut expected = vec![
        (first.id.clone(), bob.clone()),
        (second.id.clone(), ann.clone()),
    ];
    expected.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    assert_eq!(offers, expected);

    // Bob accepts; Ann lets hers run out: it goes back in line.
    let taken = f
        .store
        .answer_offer(
            &f.account,
            &bob,
            &first.id,
            OfferAnswer::Accept,
            now + secs(4),
            &Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(taken.status, Status::InProgress);
    assert_eq!(taken.agent_id.as_ref(), Some(&bob));
    let later =
        now + secs(3) + SignedDuration::try_from(settings.default_offer_timeout).unwrap() + secs(1);
    let pass = f.store.route(later, &settings, 100).await.unwrap();
    assert_eq!(pass.timed_out, 1);
    assert_ne!(f.status(&second.id).await, Status::Offered);
}
