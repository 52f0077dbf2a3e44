// Placeholder so the output/ library configures before its first source lands; delete it then.
