// The model families DenseSSM.js ships: importing them registers them with core, so every loader
// here finds them from config.json. A user's own family registers the same way (core's
// `registerModelFamily`) and then works with everything in this package unchanged.
import "@densessm/retnet";
import "@densessm/mamba";
