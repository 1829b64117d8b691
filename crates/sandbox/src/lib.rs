//! lambdad-sandbox (to be written).
