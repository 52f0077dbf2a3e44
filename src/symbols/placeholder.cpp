// Placeholder so the symbols/ library configures before its first source lands; delete it then.
