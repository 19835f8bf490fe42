//! Account-level services on top of a built engine (the last stage): the pre-trade what-if,
//! which margins a few small books straight from instrument ids and quantities, without Arrow
//! tables, reusing the engine's risk arrays.

pub mod whatif;
