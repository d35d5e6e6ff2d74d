// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'child_process',
  'http',
  'https',
  'net',
  'crypto',
  'process',
  'util',
  'events',
  'stream',
  'url',
  'worker_threads',
  'timers',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.opsflow/**', '.agency/**', 'bench/results/**', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test'] }] },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['bin/*.js', 'scripts/*.js', 'examples/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    // Workflow code is bundled and replayed: it must stay deterministic.
    files: ['src/workflows/**/*.ts', 'src/shared/**/*.ts', 'bench/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.flatMap((name) => [
              { name, message: 'Workflow code must not use Node built-ins.' },
              { name: `node:${name}`, message: 'Workflow code must not use Node built-ins.' },
            ]),
            { name: '@temporalio/activity', message: 'Activities do not belong in workflow code.' },
            { name: '@temporalio/client', message: 'The client does not belong in workflow code.' },
            { name: '@temporalio/worker', message: 'The worker does not belong in workflow code.' },
            { name: 'pino', message: 'Use the workflow log.' },
          ],
          patterns: [
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Import activities as types only.',
            },
            {
              group: ['**/local-platform/**', '**/workers/**', '**/cli/**'],
              message: 'Node code does not belong in workflow code.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'No process.env in workflow code: pass values in the input.' },
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use sleep() in a loop.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use uuid4() or pass randomness in.' },
      ],
    },
  },
);
