// `npm run lint`: typescript-eslint's type-aware rules on the package, its tests, the example app and
// the benches, as Nest projects ship them; formatting is Prettier's (`prettier --check`), not ESLint's.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'example/dist/',
      'bench/dist/',
      'consumers/',
      'coverage/',
      'reports/',
      '.stryker-tmp/',
      'var/',
      '**/*.js',
      '**/*.cjs',
      '**/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Nest's own project defaults.
      '@typescript-eslint/no-explicit-any': 'off',
      // An underscore marks a parameter an override or a signature needs but does not read.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Promise.all over steps that may answer synchronously or not (the response hook's steps) is by design.
      '@typescript-eslint/await-thenable': ['error', { allowMixedPromiseArrays: true }],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: {
      // Tests pass methods around as values on purpose: `expect(obj.method)`, jest.spyOn targets, a
      // handler as a metadata key (`Reflect.getMetadata(KEY, Controller.prototype.handle)`), never called unbound.
      '@typescript-eslint/unbound-method': 'off',
      // Jest's asymmetric matchers (`expect.any(String)`, `expect.stringMatching(…)`) are typed `any` so
      // that they fit anywhere in an expected value; each one in an object literal would be reported.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  prettier,
);
