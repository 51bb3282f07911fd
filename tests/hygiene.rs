//! The expansions must compile in a module without the prelude, where every name they could
//! accidentally rely on means something else: their paths must be fully qualified.

#[allow(dead_code, non_camel_case_types, clippy::all)]
#[no_implicit_prelude]
mod hostile {
    // The prelude, as it would be if the user had defined these names.
    struct Result;
    struct Ok;
    struct Err;
    struct Option;
    struct Some;
    struct None;
    struct Box;
    struct Vec;
    struct String;
    trait Send {}
    trait Sync {}
    trait Sized {}
    trait Future {}
    trait IntoFuture {}
    trait Fn {}
    trait Clone {}
    trait Default {}
    trait Into {}
    trait From {}
    trait Iterator {}
    trait Drop {}

    // Primitive types.
    struct str;
    struct usize;
    struct bool;
    struct u8;

    // Crates, reachable only through a leading `::`.
    mod core {}
    mod std {}
    mod experimance {}
    mod serde {}
    mod serde_json {}

    // The runtime's names, which generated code must reach through `__private`.
    struct Context;
    struct Duration;
    struct Service;
    struct Handlers;
    struct HasPub;
    struct HasPush;
    struct ServiceSpec;
    struct Handled;
    struct DispatchResult;
    fn decode() {}
    fn outcome() {}
    fn subscribed() {}

    #[::experimance::service(
        name = "Hostile",
        pub = "tcp://*:5555",
        sub = "tcp://localhost:5556",
        push = "tcp://*:5557",
        pull = "tcp://localhost:5558",
        heartbeat = "hostile.heartbeat",
        heartbeat_interval = "2s",
        stats_interval = "off"
    )]
    pub struct Hostile {
        pub seen: ::core::primitive::u64,
    }

    // The handlers are named like the trait's methods: `Self::on_start` must still call
    // the inherent ones.
    #[::experimance::handlers]
    impl Hostile {
        #[topic("era")]
        async fn dispatch_topic(&mut self, _msg: ::serde_json::Value) {
            self.seen += 1;
        }

        #[topic("idle")]
        async fn on_idle(
            &self,
            msg: ::serde_json::Value,
            ctx: &::experimance::Context<Self>,
        ) -> ::core::result::Result<(), ::experimance::Error> {
            ctx.publish_to("hostile.ack", &msg).await
        }

        #[catch_all]
        async fn on_timer(
            &mut self,
            _topic: &::core::primitive::str,
            msg: ::std::string::String,
            ctx: &::experimance::Context<Self>,
        ) -> ::core::result::Result<(), ::std::string::String> {
            ctx.push(&msg)
                .await
                .map_err(|e| ::std::string::ToString::to_string(&e))
        }

        #[task]
        async fn dispatch_task(&mut self, _job: ::serde_json::Value) {}

        #[every("250ms")]
        async fn tick(&mut self) {}

        #[every("1m")]
        async fn report(&mut self, _ctx: &::experimance::Context<Self>) {}

        #[on_start]
        async fn on_start(&mut self, _ctx: &::experimance::Context<Self>) {}

        #[on_stop]
        async fn on_stop(&mut self) {}
    }

    // A service with nothing but its defaults.
    #[::experimance::service]
    pub struct Minimal;

    #[::experimance::handlers]
    impl Minimal {}
}

use std::time::Duration;

use experimance::{Handlers, Service};
use hostile::{Hostile, Minimal};

#[test]
fn the_hostile_service_has_its_spec_and_handlers() {
    let spec = <Hostile as Service>::SPEC;
    assert_eq!(spec.name, "Hostile");
    assert_eq!(spec.service_type, "controller");
    assert_eq!(
        spec.addresses,
        [
            Some(&["tcp://*:5555"][..]),
            Some(&["tcp://localhost:5556"][..]),
            Some(&["tcp://*:5557"][..]),
            Some(&["tcp://localhost:5558"][..]),
        ]
    );
    assert_eq!(spec.topics, None);
    assert_eq!(spec.heartbeat_topic, "hostile.heartbeat");
    assert_eq!(spec.heartbeat_interval, Some(Duration::from_secs(2)));
    assert_eq!(spec.stats_interval, None);

    assert_eq!(<Hostile as Handlers>::TOPICS, ["era", "idle"]);
    assert_eq!(
        <Hostile as Handlers>::TIMERS,
        [
            ("tick", Duration::from_millis(250)),
            ("report", Duration::from_secs(60)),
        ]
    );

    let minimal = <Minimal as Service>::SPEC;
    assert_eq!(minimal.name, "Minimal");
    assert_eq!(minimal.service_type, "base");
    assert_eq!(minimal.addresses, [None; 4]);
    assert_eq!(minimal.heartbeat_interval, Some(Duration::from_secs(5)));
    assert_eq!(minimal.stats_interval, Some(Duration::from_secs(10)));
    assert!(<Minimal as Handlers>::TOPICS.is_empty());
    assert!(<Minimal as Handlers>::TIMERS.is_empty());
}
