// Shared flat config: typescript-eslint's recommended rules plus the few house rules that
// keep packages independent of each other's internals.
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "**/.turbo/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["@densessm/*/src/*", "@densessm/*/dist/*", "../../*/src/*"], message: "No deep imports across packages: import the package's public entry point." },
          ],
        },
      ],
    },
  },
);
