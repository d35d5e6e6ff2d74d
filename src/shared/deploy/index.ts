// The deploy's public surface: its input, its status and result, the facts they carry, and its messages' types.
export * from './input';
export * from './status';
export * from './rollback';
export * from './facts';
export * from './policy';
export * from './authority';
export * from './freeze';
export * from './chat';
