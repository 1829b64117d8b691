//! lambdad-engine (to be written).
