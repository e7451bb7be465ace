// Placeholder: see README.md. Nothing is exported until this backend's issue lands.
export {};
