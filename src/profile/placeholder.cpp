// Placeholder so the profile/ library configures before its first source lands; delete it then.
