; Definitions
(function_item name: (identifier) @name) @definition.function
(trait_item body: (declaration_list (function_signature_item name: (identifier) @name) @definition.function))
(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(type_item name: (type_identifier) @name) @definition.type
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
(mod_item name: (identifier) @name body: (declaration_list)) @definition.module
; `impl Type` and `impl Trait for Type` name their functions Type.fn (an impl is no symbol)
(impl_item type: [
  (type_identifier) @name
  (generic_type type: (type_identifier) @name)
  (scoped_type_identifier name: (type_identifier) @name)
  (generic_type type: (scoped_type_identifier name: (type_identifier) @name))
  (reference_type type: (type_identifier) @name)
  (reference_type type: (generic_type type: (type_identifier) @name))]) @definition.impl

; References
(call_expression function: [(identifier) (scoped_identifier) (field_expression)] @reference.call)
(call_expression function: (generic_function function: [(identifier) (scoped_identifier) (field_expression)] @reference.call))
; Client { .. } builds a value of the type, as a constructor call would
(struct_expression name: [(type_identifier) (scoped_type_identifier)] @reference.call)
(impl_item trait: [(type_identifier) (scoped_type_identifier)] @reference.inherit)
(impl_item trait: (generic_type type: [(type_identifier) (scoped_type_identifier)] @reference.inherit))
(trait_item bounds: (trait_bounds [(type_identifier) (scoped_type_identifier)] @reference.inherit))

; Imports: `use` trees and `mod x;` declarations
(use_declaration) @import
(mod_item !body) @import
