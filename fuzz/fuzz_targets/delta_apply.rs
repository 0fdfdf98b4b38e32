//! A delta from a peer decoded and applied to a state that already holds
//! writes of its own: never a panic, applying twice changes nothing the
//! second time, and the state still encodes and decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officemesh::NodeId;
use officemesh::crdt::{
    Delta, OfficeState, Quantity, Reading, SensorId, TargetKey, TargetValue, Writer,
};

fuzz_target!(|data: &[u8]| {
    let Ok(delta) = Delta::decode(data) else {
        return;
    };
    let mut state = OfficeState::new();
    let mut writer = Writer::new(NodeId(1));
    let unit = Quantity::Temperature.default_unit();
    state.set_target(
        &mut writer,
        1_000,
        TargetKey::new("office", Quantity::Temperature),
        TargetValue {
            value: 21.0,
            unit,
            set_by: "fuzz".into(),
        },
    );
    state.publish_reading(
        &mut writer,
        2_000,
        SensorId {
            quantity: Quantity::Temperature,
            index: 0,
        },
        Reading { value: 20.5, unit },
    );
    state.apply(&delta);
    let once = state.encode().expect("state encodes");
    state.apply(&delta);
    assert_eq!(
        state.encode().expect("state encodes"),
        once,
        "apply is idempotent"
    );
    OfficeState::decode(&once).expect("an encoded state decodes");
});
