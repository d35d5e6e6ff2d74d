// The ops agent's public surface: input and messages' arguments, state, figures, review and answers.
export * from './answers';
export * from './config';
export * from './figures';
export * from './input';
export * from './review';
export * from './state';
export * from './freeze';
export * from './security';
export * from './measures';
