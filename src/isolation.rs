//! Pure isolation checks over a whole set of effective settings.
