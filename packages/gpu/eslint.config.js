export { default } from "@densessm/eslint-config";
