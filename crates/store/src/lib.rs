//! lambdad-store (to be written).
